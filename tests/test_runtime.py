"""Where training jobs run: the gpu resource each one holds."""

import pytest

from dpharm import runtime


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
