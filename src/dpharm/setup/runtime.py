"""Process-wide settings for the jobs that train and attack models."""

from __future__ import annotations

import ctypes
import os
import shutil

# Float results depend on the code path a library picks for the CPU it finds: torch's kernels
# (the DP noise draw, log-softmax), MKL's and OpenBLAS's products and numpy's exp/log differ in
# their last bits between an AVX-512 and an AVX2 machine, and PGD and the FNR counts amplify
# that to 1e-3. Every job is pinned to the AVX2 paths (on every x86-64 server CPU since 2013)
# and one BLAS thread, so two machines give the same bytes. A setting made outside is replaced:
# reproduction is the point. On an AVX2 machine these are the paths the libraries pick anyway
# (tested: byte-identical training jobs with and without the pins here).
KERNEL_PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "AVX2",
    "OPENBLAS_CORETYPE": "Haswell",
    "OPENBLAS_NUM_THREADS": "1",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}


def pin_kernels(environment=os.environ) -> None:
    """Set KERNEL_PINS in `environment`; a process started from it (every Snakemake job) then
    loads torch, MKL, OpenBLAS and numpy on the pinned paths. Must run before those load."""
    environment.update(KERNEL_PINS)


# glibc's mallopt parameters (malloc.h) and the largest mmap threshold it accepts on 64-bit.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
LARGEST_MMAP_THRESHOLD = 32 * 2**20


def keep_freed_buffers() -> bool:
    """Let glibc keep freed buffers of up to 32 MB for reuse instead of returning them to the
    kernel at once.

    Why by hand: every training step frees and re-allocates the same few-MB tensors; by default
    glibc unmaps each one and the next step page-faults it back in, which made image-model
    steps about 1.3x slower here (docs/measurements.md). No library exposes mallopt; the
    environment variables MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ do the same from
    outside. Returns False (and changes nothing) where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, LARGEST_MMAP_THRESHOLD)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, 4 * LARGEST_MMAP_THRESHOLD)
    )


def configure_torch(threads: int) -> None:
    """What every torch job does first: its rule's thread count, and buffer reuse."""
    import torch

    torch.set_num_threads(threads)
    keep_freed_buffers()


def pick_device(requested: str):
    """The torch.device for the config's `device` ('auto': CUDA when visible, else the CPU)."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config 'device: cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def gpus_per_training_job(requested: str) -> int:
    """The `gpu` resource a training job holds: 1 when it will run on a CUDA device, else 0.

    Snakemake's `gpu=1` limit (profiles/default) then keeps two training jobs off one GPU,
    while on a machine without one they run side by side, one per core. Decided in the main
    Snakemake process, so it looks for a driver instead of importing torch: an NVIDIA device
    node or nvidia-smi, unless CUDA_VISIBLE_DEVICES hides every device. A SLURM profile sets
    the resource itself (profiles/slurm).
    """
    if requested == "cpu":
        return 0
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return 0
    return int(os.path.exists("/dev/nvidia0") or shutil.which("nvidia-smi") is not None)
