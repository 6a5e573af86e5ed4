"""Stage 1: parsed image sources, and the train / test / public sets of every seed."""

from __future__ import annotations

import functools

from dpharm.data import synthetic as datasets
from dpharm.data.image_sources import parsed_images
from dpharm.data.image_splits import real_splits
from dpharm.io import read_npz, write_npz


def raw_images(
    source: str,
    output: str,
    download_folder: str,
    *,
    mirror: str | None = None,
    sha256: dict | None = None,
    local_folder: str | None = None,
) -> None:
    """Parse one image source: the offline digits, a local copy, or a download, each verified
    against pinned checksums. The output appears only once every file has passed."""

    arrays = parsed_images(source, download_folder, mirror=mirror, checksums=sha256, local_folder=local_folder)
    write_npz(output, arrays)


def make_dataset(raw_files: list[str], outputs: list[str], data_params: dict, seeds: list[int]) -> None:
    """Train / test / public sets per seed: drawn from the synthetic model, or split from images."""

    if data_params["source"] == "synthetic":
        make = functools.partial(datasets.generate, datasets.SyntheticData(**datasets.synthetic_settings(data_params)))
    else:
        raw = read_npz(raw_files[0], ("train_x", "train_y", "test_x", "test_y"))
        make = functools.partial(real_splits, raw, data_params)
    for seed, path in zip(seeds, outputs, strict=True):
        datasets.save(path, make(seed))
