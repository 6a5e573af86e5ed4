"""Real image data in the pipeline's dataset format (the same arrays as `dpharm.data`).

Images become the two-layer CNN's input by cutting them into non-overlapping patches (a
convolution whose kernel equals its stride), so the same Opacus-compatible model serves both.

Splits (docs/model.md, the data model): the minority (last) class keeps only `minority_fraction`
of its training examples (as Bagdasaryan et al. 2019 did with MNIST digit 8); class 0 is made of
two sources, its own digit (head) and `tail_source` (tail, a `tail_frequency` share); public
data is a disjoint `public_fraction` of the training pool, rotated by `shift_angle` degrees.
"""

from __future__ import annotations

import json

import numpy as np
from scipy import ndimage

PATCH_AXES = (2, 3)


def patchify(images: np.ndarray, patch: int) -> np.ndarray:
    """(n, C, H, W) -> (n, (H/patch) * (W/patch), C * patch * patch)."""
    n, channels, height, width = images.shape
    if height % patch or width % patch:
        raise ValueError(f"patch size {patch} does not divide the {height}x{width} images")
    grid = images.reshape(n, channels, height // patch, patch, width // patch, patch)
    return grid.transpose(0, 2, 4, 1, 3, 5).reshape(n, -1, channels * patch * patch)


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


def _training_groups(pool: list[list[np.ndarray]], data: dict, rng: np.random.Generator) -> list[list[np.ndarray]]:
    """Apply the minority fraction and the tail frequency to the private pool."""
    groups = [[rng.permutation(members) for members in cls] for cls in pool]
    minority = groups[-1]
    minority[0] = minority[0][: max(1, int(round(len(minority[0]) * data["minority_fraction"])))]
    if len(groups[0]) == 2:
        head = len(groups[0][0])
        tail = int(round(head * data["tail_frequency"] / (1 - data["tail_frequency"])))
        groups[0][1] = groups[0][1][: max(1, tail)]
    return groups


def _arrays(images: np.ndarray, groups: list[list[np.ndarray]], patch: int, rng: np.random.Generator) -> dict:
    index = np.concatenate([m for cls in groups for m in cls])
    labels = np.concatenate([np.full(len(m), c) for c, cls in enumerate(groups) for m in cls])
    subpops = np.concatenate([np.full(len(m), s) for cls in groups for s, m in enumerate(cls)])
    order = rng.permutation(len(index))
    return {
        "x": patchify(images[index[order]], patch).astype(np.float32),
        "y": labels[order].astype(np.int64),
        "subpopulation": subpops[order].astype(np.int64),
    }


def real_splits(raw: dict[str, np.ndarray], data: dict, seed: int) -> dict[str, np.ndarray]:
    """Train / test / public sets of one seed from a parsed image data set."""
    rng = np.random.default_rng(seed)
    pool = _class_members(raw["train_y"], data)
    public, private = [], []
    for cls in pool:
        shuffled = [rng.permutation(m) for m in cls]
        cut = [int(round(len(m) * data["public_fraction"])) for m in shuffled]
        public.append([m[:k] for m, k in zip(shuffled, cut, strict=False)])
        private.append([m[k:] for m, k in zip(shuffled, cut, strict=False)])
    train_groups = _training_groups(private, data, rng)
    splits = {
        "train": _arrays(raw["train_x"], train_groups, data["patch_size"], rng),
        "test": _arrays(raw["test_x"], _class_members(raw["test_y"], data), data["patch_size"], rng),
        "public": _arrays(rotate(raw["train_x"], data["shift_angle"]), public, data["patch_size"], rng),
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
