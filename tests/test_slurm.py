"""The SLURM profile end to end: config/small.yaml through a real one-node SLURM cluster with a
fake GPU (tests/slurm_cluster.py) gives the same tables as a plain local run.

Duration, measured on the reference machine (2 CPU cores, Debian 12, SLURM packages already
installed): 9 to 13 minutes, 548 s, 584 s and (with workdir runs/small) 762 s for the whole
file. The SLURM run takes 550-580 s (90
sbatch jobs, two at a time on the 2 CPUs, the 26 training jobs one at a time on the one fake
GPU; each job costs about 12 s of Python start-up and status polling); the local run (about
280 s alone) goes alongside it. One after the other the two took 807 s. The cluster itself
comes up in about 2 s; where apt-get has to install SLURM first, that comes on top.
Run: python -m pytest -q -m slurm tests/test_slurm.py -p no:cacheprovider
Needs root (it installs Debian's slurmctld, slurmd, slurm-client and munge with apt-get when
missing, and links /etc/slurm/slurm.conf while it runs); skipped where that is impossible.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dpharm.setup.budget import LIGHT_JOB, RAW_IMAGES_JOB, Request
from helpers import REPO, SMALL_WORKDIR, copy_workflow
from slurm_cluster import SlurmUnavailable, slurm_cluster, timed

pytestmark = pytest.mark.slurm

STAGES = {
    "raw_images",
    "dataset",
    "pretrain",
    "train",
    "evaluate",
    "privacy_audit",
    "aggregate",
    "fnr_transition",
    "claims",
    "verdicts",
    "figure",
    "provenance",
}
GPU_RULES = {"train", "pretrain"}
ESTIMATED_RULES = {"dataset", "pretrain", "train", "evaluate", "privacy_audit"}
SMALL = ("--configfile", "config/small.yaml")  # last: --configfile takes several values
# No accounting database here, so the plugin must poll squeue, not sacct; poll early, as the
# jobs are short; keep the SLURM logs of successful jobs to look at them.
SLURM = (
    "--workflow-profile",
    "profiles/slurm",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--slurm-keep-successful-logs",
)


def snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Snakemake under `timeout -k` (the plugin once ignored SIGTERM) and a Python-side limit."""
    command = timed(timeout, sys.executable, "-m", "snakemake", "--cores", "2", *args)
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout + 30)


@contextlib.contextmanager
def snakemake_in_background(workdir: Path, *args: str, timeout: int = 900):
    """Snakemake started now, output to a file; yields a function that waits for its result.
    Killed (its whole process group) if the block exits before it has finished."""
    log = workdir / "snakemake.out"
    with open(log, "w") as output:
        process = subprocess.Popen(
            timed(timeout, sys.executable, "-m", "snakemake", "--cores", "2", *args),
            cwd=workdir,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def result() -> tuple[int, str]:
        return process.wait(timeout=timeout + 30), log.read_text()

    try:
        yield result
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def profile() -> dict:
    return yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())


def use_partition(workdir: Path, partition: str) -> None:
    """Replace the profile's placeholder partition in the copy with the test cluster's."""
    path = workdir / "profiles" / "slurm" / "config.yaml"
    settings = yaml.safe_load(path.read_text())
    settings["default-resources"]["slurm_partition"] = partition
    path.write_text(yaml.safe_dump(settings, sort_keys=False))


def fixed_request(rule: str) -> Request | None:
    """The request of a rule without an estimate of its own (dpharm.setup.budget), else None."""
    return {"raw_images": RAW_IMAGES_JOB}.get(rule, None if rule in ESTIMATED_RULES else LIGHT_JOB)


def minutes(limit: str) -> int:
    """scontrol's TimeLimit ([D-]HH:MM:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    hours, mins, secs = (int(part) for part in clock.split(":"))
    return int(days or 0) * 1440 + hours * 60 + mins + (secs > 0)


def megabytes(memory: str) -> int:
    """scontrol's MinMemoryNode (e.g. 8000M, 8G) in MB."""
    value, unit = float(memory[:-1]), memory[-1]
    return int(value * {"M": 1, "G": 1024, "T": 1024 * 1024}[unit])


def rule_of(comment: str) -> str:
    """The plugin's job comment `rule_<rule>[_wildcards_<values>]` -> the rule name."""
    return re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", comment).group(1)


def seconds(timestamp: str) -> float:
    return time.mktime(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%S"))


@pytest.fixture(scope="module")
def cluster():
    with contextlib.ExitStack() as stack:
        try:
            running = stack.enter_context(slurm_cluster())
        except SlurmUnavailable as error:
            pytest.skip(f"no local SLURM cluster: {error}")
        yield running  # the daemons are stopped by PID on the way out, even after a failure


def test_profile_asks_slurm_for_a_gpu_per_training_job_and_holds_no_sizes():
    settings = profile()
    assert settings["executor"] == "slurm" and settings["jobs"] > 0
    assert set(settings["default-resources"]) == {"slurm_partition"}
    assert set(settings["set-resources"]) == GPU_RULES
    for rule, resources in settings["set-resources"].items():
        assert resources == {"gpu": 1}, rule  # memory and time come from the rules (dpharm.setup.budget)
    assert "resources" not in settings  # SLURM, not a Snakemake-side limit, hands out GPUs


def test_small_configuration_through_slurm_matches_a_local_run(cluster, tmp_path):
    local = copy_workflow(tmp_path / "local")
    remote = copy_workflow(tmp_path / "slurm")
    use_partition(remote, cluster.partition)

    # The local run goes side by side with the SLURM one (whose jobs mostly wait on Python
    # start-up and status polls): about 4 minutes less than one after the other.
    with snakemake_in_background(local, *SMALL, timeout=1500) as local_result:
        started = time.monotonic()
        result = snakemake(remote, *SLURM, *SMALL, timeout=1500)
        print(f"SLURM run: {time.monotonic() - started:.0f} s")
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:] + "\n" + cluster.log_tails()
        returncode, local_output = local_result()
        print(f"both runs: {time.monotonic() - started:.0f} s")
        assert returncode == 0, local_output[-4000:]
    assert "workflow specific profile profiles/slurm" in output  # not profiles/default

    # Every job went through sbatch, as the plugin reports it ...
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", output))
    jobs = cluster.jobs()
    assert submitted and submitted <= set(jobs), output[-3000:]
    rules = {job: rule_of(jobs[job]["Comment"]) for job in submitted}
    assert set(rules.values()) == STAGES, "every stage runs on the cluster, none locally"
    # ... completed, with the profile's partition, wall time and memory, and a GPU for training.
    for job, rule in rules.items():
        fields = jobs[job]
        assert fields["JobState"] == "COMPLETED", fields
        assert fields["Partition"] == cluster.partition
        # the rule's own request: fixed for light jobs, from the estimate (at least a light job's) otherwise
        request = fixed_request(rule)
        limit, memory = minutes(fields["TimeLimit"]), megabytes(fields["MinMemoryNode"])
        if request is None:
            assert limit >= LIGHT_JOB.runtime and memory >= LIGHT_JOB.mem_mb, (rule, limit, memory)
        else:
            assert (limit, memory) == (request.runtime, request.mem_mb), (rule, limit, memory)
        assert ("gpu:1" in fields.get("TresPerJob", "")) == (rule in GPU_RULES), (rule, fields.get("TresPerJob"))

    # The fake GPU is real to SLURM: training steps saw CUDA_VISIBLE_DEVICES=0 (recorded by the
    # cluster's TaskProlog), other jobs none, and no two training jobs ran at once.
    seen = cluster.task_env()
    for job, rule in rules.items():
        assert seen.get(job) == ({"0"} if rule in GPU_RULES else {"unset"}), (rule, seen.get(job))
    gpu_spans = sorted(
        (seconds(jobs[j]["StartTime"]), seconds(jobs[j]["EndTime"])) for j, r in rules.items() if r in GPU_RULES
    )
    assert all(end <= next_start for (_, end), (next_start, _) in zip(gpu_spans, gpu_spans[1:], strict=False))
    assert list((remote / SMALL_WORKDIR / ".snakemake" / "slurm_logs" / "rule_train").rglob("*.log"))

    # The pipeline is deterministic on the CPU: the same tables, byte for byte.
    def tables_of(root):
        return sorted(p.relative_to(root) for p in (root / SMALL_WORKDIR / "results" / "tables").glob("*.csv"))

    tables = tables_of(local)
    assert tables == tables_of(remote)
    for path in [*tables, SMALL_WORKDIR / "results" / "claims.csv"]:
        assert (local / path).read_bytes() == (remote / path).read_bytes(), path
