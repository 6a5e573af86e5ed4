"""Independent, stable seeds for the random streams of one run."""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(seed: int, stream: str) -> int:
    """A seed for `stream` (sampling, dp-noise, augmentation, ...) of the run with `seed`."""
    return int(np.random.SeedSequence([seed, zlib.crc32(stream.encode())]).generate_state(1)[0])
