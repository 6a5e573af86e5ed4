"""What every run records about where its numbers came from."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from dpharm.setup.runtime import KERNEL_PINS

PACKAGES = ("dpharm", "torch", "opacus", "numpy", "scipy", "pandas", "snakemake", "seaborn", "matplotlib")


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def git_state() -> dict:
    """The commit, and whether tracked files other than the outputs under results/ differ from it
    (a rerun replaces results/ itself, which must not mark the code as modified)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions() -> dict:
    """Installed version of every package in PACKAGES; None for one that is not installed."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_description(device) -> str:
    """'cpu:x86_64' or 'cuda:<GPU name>' for a torch.device."""
    if device.type == "cuda":
        import torch

        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()}"


def cpu_model() -> str:
    """The CPU's model name (Linux), or the platform's processor string: float results can
    differ in the last digits between CPUs, so a reviewer comparing runs needs it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """The vector instruction set torch dispatches its CPU kernels to ('AVX2', 'AVX512', ...):
    float32 results (the DP noise draw, log-softmax) differ in their last bits between two of
    them, so two CPUs of one vendor name can still disagree."""
    import torch  # here, not at the top: the Snakefile reads this module and must stay light

    return torch.backends.cpu.get_cpu_capability()


def provenance(device, threads: int) -> dict:
    """What a run records about its environment: code state, package versions, Python, device,
    CPU and its torch kernel instruction set, torch threads and the UTC time."""
    return {
        "git": git_state(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "device": device_description(device),
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "kernel_pins": {key: os.environ.get(key) for key in KERNEL_PINS},
        "torch_threads": threads,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
