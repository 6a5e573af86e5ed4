"""Run the workflow from a scratch copy of the repository, as a user would from the README."""

import copy
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "config.yaml", "config", "workflow", "profiles")
# config/small.yaml's working folder: its results/ and .snakemake/ live there, not in the copy's root.
SMALL_WORKDIR = Path("runs/small")
# the experiments the default and the small configuration run
EXPERIMENTS = [
    "utility_vs_noise",
    "class_imbalance",
    "long_tail",
    "adversarial",
    "pretraining_shift",
    "mitigations",
    "real_class_imbalance",
    "real_long_tail",
    "real_adversarial",
    "real_pretraining_shift",
]


def copy_workflow(destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy(source, destination / name)
    return destination


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)


def set_key(config: dict, dotted: str, value) -> dict:
    """A copy of `config` with the key at the dotted path ('a.b.c') set to `value`."""
    config = copy.deepcopy(config)
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[last] = value
    return config
