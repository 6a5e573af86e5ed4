"""Real image data in the pipeline's dataset format (the same arrays as `dpharm.data.synthetic`).

Images become the two-layer CNN's input by cutting them into non-overlapping patches (a
convolution whose kernel equals its stride), so the same Opacus-compatible model serves both.

Splits (docs/model.md, the data model): the minority (last) class keeps only `minority_fraction`
of its training examples (as Bagdasaryan et al. 2019 did with MNIST digit 8); class 0 is made of
two sources, its own digit (head) and `tail_source` (tail, a `tail_frequency` share); public
data is a disjoint `public_fraction` of the training pool, rotated by `shift_angle` degrees, or
(`public_source: digits`) another data set: the same share is held out of the private pool, and
the public set is every scikit-learn digit upscaled to the source's size, digit `classes[c]`
labelled c.

A split file holds indices into the parsed source, not copies of images: `materialize` cuts the
patches when a job loads it.
"""

from __future__ import annotations

import functools
import json

import numpy as np
from scipy import ndimage

from dpharm.data.image_sources import load_digits_images

PATCH_AXES = (2, 3)


def patchify(images: np.ndarray, patch: int) -> np.ndarray:
    """(n, C, H, W) -> (n, (H/patch) * (W/patch), C * patch * patch)."""
    n, channels, height, width = images.shape
    if height % patch or width % patch:
        raise ValueError(f"patch size {patch} does not divide the {height}x{width} images")
    grid = images.reshape(n, channels, height // patch, patch, width // patch, patch)
    patches = (height // patch) * (width // patch)  # explicit: an empty split has no -1 to infer
    return grid.transpose(0, 2, 4, 1, 3, 5).reshape(n, patches, channels * patch * patch)


def rotate(images: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate (n, C, H, W) images in the H-W plane, bilinearly, keeping their size (corners become 0)."""
    if degrees == 0:
        return images
    return ndimage.rotate(images, degrees, axes=PATCH_AXES, reshape=False, order=1, mode="constant")


def _class_members(labels: np.ndarray, data: dict) -> list[list[np.ndarray]]:
    """Indices of every (class, subpopulation): class c is digit classes[c]; class 0's tail is tail_source."""
    groups = [[np.flatnonzero(labels == digit)] for digit in data["classes"]]
    if data["tail_source"] is not None:
        groups[0].append(np.flatnonzero(labels == data["tail_source"]))
    return groups


# Training images per original label of each source's training split (the digits': of its fixed
# 70% split), so that a split leaving a group empty is refused before any job
# (`training_group_sizes`; tests/test_image_splits.py checks the digits' against the data).
TRAIN_LABEL_COUNTS = {
    "digits": (122, 127, 115, 137, 120, 126, 125, 133, 128, 124),
    "mnist": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "fashion_mnist": (6000,) * 10,
    "cifar10": (5000,) * 10,
}


def _private_size(pool: int, data: dict) -> int:
    """Examples of a label left to the private set once the public share is held out."""
    return pool - int(round(pool * data["public_fraction"]))


def _minority_size(private: int, data: dict) -> int:
    return int(round(private * data["minority_fraction"]))


def _tail_size(head: int, pool: int, data: dict) -> int:
    """Tail examples for a head of `head` at the tail frequency, at most the `pool` there are."""
    return min(pool, int(round(head * data["tail_frequency"] / (1 - data["tail_frequency"]))))


def training_group_sizes(data: dict) -> dict[str, int]:
    """Training examples of each (class, subpopulation) group a split of `data` holds, from the
    source's label counts (the same sizes `real_splits` cuts)."""
    counts = TRAIN_LABEL_COUNTS[data["source"]]
    private = [_private_size(counts[label], data) for label in data["classes"]]
    private[-1] = _minority_size(private[-1], data)
    sizes = {f"class {c} (label {label})": n for c, (label, n) in enumerate(zip(data["classes"], private, strict=True))}
    if data["tail_source"] is not None:
        tail_pool = _private_size(counts[data["tail_source"]], data)
        sizes[f"class 0's tail (label {data['tail_source']})"] = _tail_size(private[0], tail_pool, data)
    return sizes


def _training_groups(pool: list[list[np.ndarray]], data: dict, rng: np.random.Generator) -> list[list[np.ndarray]]:
    """Apply the minority fraction and the tail frequency to the private pool."""
    groups = [[rng.permutation(members) for members in cls] for cls in pool]
    minority = groups[-1]
    minority[0] = minority[0][: _minority_size(len(minority[0]), data)]
    if len(groups[0]) == 2:
        groups[0][1] = groups[0][1][: _tail_size(len(groups[0][0]), len(groups[0][1]), data)]
    empty = [c for c, cls in enumerate(groups) if any(len(members) == 0 for members in cls)]
    if empty:  # validation refuses such a config first (dpharm.setup.validation); this is the backstop
        raise ValueError(
            f"the split leaves class {empty[0]} with a group of no training examples; raise config keys "
            "data.minority_fraction or data.tail_frequency, or lower data.public_fraction"
        )
    return groups


def _arrays(groups: list[list[np.ndarray]], rng: np.random.Generator) -> dict:
    """A split as indices into its raw image array (not copies: `materialize` cuts the patches)."""
    index = np.concatenate([m for cls in groups for m in cls])
    labels = np.concatenate([np.full(len(m), c) for c, cls in enumerate(groups) for m in cls])
    subpops = np.concatenate([np.full(len(m), s) for cls in groups for s, m in enumerate(cls)])
    order = rng.permutation(len(index))
    return {
        "index": index[order].astype(np.int64),
        "y": labels[order].astype(np.int64),
        "subpopulation": subpops[order].astype(np.int64),
    }


# The raw array each split's indices point into.
RAW_ARRAY = {"train": "train_x", "test": "test_x", "public": "train_x"}
OTHER_PUBLIC_SOURCES = ("digits",)


@functools.lru_cache(maxsize=2)
def upscaled_digits(shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """scikit-learn's 8x8 digits resized (bilinearly) to the (C, H, W) of another source: public
    data from another data set. They ship with scikit-learn, so no file is needed; computed once
    per shape and process (callers only index the arrays)."""

    images, labels = load_digits_images()
    channels, height, width = shape
    zoomed = ndimage.zoom(images, (1, 1, height / images.shape[2], width / images.shape[3]), order=1)
    return {"x": np.repeat(zoomed.clip(0, 1), channels, axis=1).astype(np.float32), "y": labels}


def _public_images(raw: dict[str, np.ndarray], data: dict) -> np.ndarray:
    if data["public_source"] is None:
        return raw["train_x"]
    return upscaled_digits(raw["train_x"].shape[1:])["x"]


def materialize(split_file: dict[str, np.ndarray], raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A split file of indices plus the parsed source -> the patch arrays (`<split>_x`) every job
    reads: the public images rotated by the split's `shift_angle`, every image standardised with
    the fixed `pixel_mean` and `pixel_std`, then cut into patches."""
    data = json.loads(str(split_file["spec"]))
    arrays = dict(split_file)
    for split, source in RAW_ARRAY.items():
        pool = _public_images(raw, data) if split == "public" else raw[source]
        images = pool[split_file[f"{split}_index"]]
        if split == "public":
            images = rotate(images, data["shift_angle"])
        images = (images - data["pixel_mean"]) / data["pixel_std"]
        arrays[f"{split}_x"] = patchify(images, data["patch_size"]).astype(np.float32)
    return arrays


def real_splits(raw: dict[str, np.ndarray], data: dict, seed: int) -> dict[str, np.ndarray]:
    """Train / test / public sets of one seed from a parsed image data set, as indices into it
    (`<split>_index`) with their labels and subpopulations."""
    rng = np.random.default_rng(seed)
    pool = _class_members(raw["train_y"], data)
    public, private = [], []
    for cls in pool:
        shuffled = [rng.permutation(m) for m in cls]
        cut = [int(round(len(m) * data["public_fraction"])) for m in shuffled]
        public.append([m[:k] for m, k in zip(shuffled, cut, strict=False)])
        private.append([m[k:] for m, k in zip(shuffled, cut, strict=False)])
    train_groups = _training_groups(private, data, rng)
    if data["public_source"] is not None:  # the same hold-out, replaced by every image of another source
        labels = upscaled_digits(raw["train_x"].shape[1:])["y"]
        public = [[np.flatnonzero(labels == digit)] for digit in data["classes"]]
    splits = {
        "train": _arrays(train_groups, rng),
        "test": _arrays(_class_members(raw["test_y"], data), rng),
        "public": _arrays(public, rng),
    }
    arrays = {f"{split}_{key}": value for split, part in splits.items() for key, value in part.items()}
    subpopulations = 2 if data["tail_source"] is not None else 1
    counts = np.zeros((len(data["classes"]), subpopulations), dtype=int)
    for c, cls in enumerate(train_groups):
        counts[c, : len(cls)] = [len(m) for m in cls]
    arrays["train_group_counts"] = counts
    arrays["subpopulation_frequencies"] = counts / counts.sum(axis=1, keepdims=True)
    arrays["spec"] = np.array(json.dumps(data, sort_keys=True))
    return arrays
