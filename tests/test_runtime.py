"""Where training jobs run: the gpu resource each one holds, and the CPU code paths every job
is pinned to (so two machines give the same bytes)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from dpharm.setup import runtime
from dpharm.setup.provenance import provenance


@pytest.mark.parametrize(
    ("requested", "device_node", "visible", "expected"),
    [
        ("auto", True, None, 1),
        ("cuda", True, "0", 1),
        ("auto", False, None, 0),  # no driver: jobs run side by side
        ("cpu", True, None, 0),  # asked for the CPU on a GPU machine
        ("auto", True, "", 0),  # every device hidden
        ("auto", True, "-1", 0),
    ],
)
def test_a_training_job_holds_a_gpu_only_where_it_will_use_one(monkeypatch, requested, device_node, visible, expected):
    monkeypatch.setattr(runtime.os.path, "exists", lambda path: device_node and path == "/dev/nvidia0")
    monkeypatch.setattr(runtime.shutil, "which", lambda name: None)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert runtime.gpus_per_training_job(requested) == expected


def test_a_run_records_the_instruction_set_of_its_cpu_kernels_and_the_pins():
    # the DP noise draw (torch.normal) differs in its last bits between AVX2 and AVX-512 kernels
    record = provenance(torch.device("cpu"), 1)
    assert record["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(record["kernel_pins"]) == set(runtime.KERNEL_PINS)


PROBE = """
import json, os, numpy, torch
from numpy._core._multiarray_umath import __cpu_features__
print(json.dumps({"torch": torch.backends.cpu.get_cpu_capability(),
                  "numpy_avx512": any(v for k, v in __cpu_features__.items() if k.startswith(("AVX512", "X86_V4"))),
                  "env": {k: os.environ.get(k) for k in %r}}))
"""


def test_pinned_jobs_load_torch_and_numpy_on_the_avx2_paths_whatever_the_caller_set():
    # the cause of the cross-machine differences (an AVX-512 Xeon against an AVX2 EPYC): a job's
    # libraries must choose their code paths from the pins, not from the CPU or the caller
    environment = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"}
    runtime.pin_kernels(environment)
    probe = subprocess.run([sys.executable, "-c", PROBE % list(runtime.KERNEL_PINS)], env=environment,
                           capture_output=True, text=True, check=True)  # fmt: skip
    seen = json.loads(probe.stdout)
    assert seen["env"] == runtime.KERNEL_PINS
    assert seen["torch"] in ("AVX2", "DEFAULT")  # DEFAULT only on a CPU without AVX2
    assert not seen["numpy_avx512"]


def test_the_workflow_pins_the_kernels_before_any_job(repo):
    snakefile = (repo / "Snakefile").read_text()
    assert snakefile.index("pin_kernels()") < snakefile.index("rule all:")
