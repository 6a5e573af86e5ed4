"""The synthetic signal-patch / noise-patch data model (docs/model.md, the data model).

Features are axis-aligned: u_{c,s} = ||u_{c,s}|| e_{c*S+s} and the public shift direction
u'_{c,s} = ||u_{c,s}|| e_{K*S+c*S+s}. The network, its isotropic initialisation and the
isotropic noise are rotation invariant, so this loses no generality and makes the projection
of the noise off the features a matter of zeroing those coordinates.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass

import numpy as np

from dpharm.data.image_splits import materialize
from dpharm.io import CorruptFileError, read_npz, write_npz

SPLITS = ("train", "test", "public")


@dataclass(frozen=True)
class SyntheticData:
    """Settings of the `data` config section."""

    dimension: int
    patches: int
    noise_std: float
    num_classes: int
    feature_norm: float
    minority_feature_norm: float | None
    tail_frequency: float
    tail_feature_norm: float | None
    imbalance_ratio: float
    n_train: int
    n_test_per_group: int
    n_public: int
    shift_angle: float

    @property
    def subpopulations(self) -> int:
        """S: 2 (head and tail) when `tail_frequency` > 0, else 1."""
        return 2 if self.tail_frequency > 0 else 1

    def feature_norms(self) -> np.ndarray:
        """||u_{c,s}|| as a (classes, subpopulations) array; the last class is the minority."""
        norms = np.full((self.num_classes, self.subpopulations), float(self.feature_norm))
        if self.minority_feature_norm is not None:
            norms[-1, :] = self.minority_feature_norm
        if self.subpopulations == 2 and self.tail_feature_norm is not None:
            norms[:, 1] = self.tail_feature_norm
        return norms

    def subpopulation_frequencies(self) -> np.ndarray:
        """p_{c,s}: within-class frequency of each subpopulation, (classes, subpopulations)."""
        if self.subpopulations == 1:
            return np.ones((self.num_classes, 1))
        return np.tile([1 - self.tail_frequency, self.tail_frequency], (self.num_classes, 1))

    def class_counts(self, total: int, imbalanced: bool) -> np.ndarray:
        """Examples per class: majority classes get rho times the minority (last) class."""
        weights = np.ones(self.num_classes)
        if imbalanced:
            weights[:-1] = self.imbalance_ratio
        counts = np.floor(total * weights / weights.sum()).astype(int)
        counts[: total - counts.sum()] += 1  # hand out the rounding remainder, majority first
        return counts

    def group_counts(self, total: int, imbalanced: bool) -> np.ndarray:
        """Examples per (class, subpopulation); deterministic, so ratios are exact up to rounding."""
        counts = np.zeros((self.num_classes, self.subpopulations), dtype=int)
        frequencies = self.subpopulation_frequencies()
        for c, n_class in enumerate(self.class_counts(total, imbalanced)):
            tail = int(round(n_class * frequencies[c, -1])) if self.subpopulations == 2 else 0
            counts[c, -1] = tail
            counts[c, 0] = n_class - tail
        return counts


def training_group_sizes(spec: SyntheticData) -> dict[str, int]:
    """Training examples of each (class, subpopulation) group (`SyntheticData.group_counts`)."""
    names = ("head", "tail") if spec.subpopulations == 2 else ("all",)
    counts = spec.group_counts(spec.n_train, imbalanced=True)
    return {f"class {c} ({names[s]})": int(counts[c, s]) for c in range(spec.num_classes) for s in range(len(names))}


def public_group_sizes(spec: SyntheticData) -> dict[str, int]:
    """Public examples of each group; empty when there is no public set (n_public 0)."""
    if spec.n_public == 0:
        return {}
    counts = spec.group_counts(spec.n_public, imbalanced=False)
    return {f"class {c}, subpopulation {s}": int(n) for (c, s), n in np.ndenumerate(counts)}


def private_features(spec: SyntheticData) -> np.ndarray:
    """u_{c,s}, shape (classes, subpopulations, dimension)."""
    norms = spec.feature_norms()
    features = np.zeros((spec.num_classes, spec.subpopulations, spec.dimension))
    for c in range(spec.num_classes):
        for s in range(spec.subpopulations):
            features[c, s, c * spec.subpopulations + s] = norms[c, s]
    return features


def public_features(spec: SyntheticData) -> np.ndarray:
    """v_{c,s} = cos(theta) u_{c,s} + sin(theta) u'_{c,s}, with u' orthogonal to every u."""
    theta = math.radians(spec.shift_angle)
    offset = spec.num_classes * spec.subpopulations
    shifted = np.roll(private_features(spec), offset, axis=-1)
    return math.cos(theta) * private_features(spec) + math.sin(theta) * shifted


def feature_span_size(spec: SyntheticData) -> int:
    """Coordinates spanned by the private and public features (zeroed in noise patches)."""
    return 2 * spec.num_classes * spec.subpopulations


def sample_examples(
    spec: SyntheticData, features: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Draw examples with the given (class, subpopulation) counts, in random order."""
    labels = np.repeat(np.arange(spec.num_classes), counts.sum(axis=1))
    subpops = np.concatenate([np.repeat(np.arange(spec.subpopulations), counts[c]) for c in range(spec.num_classes)])
    order = rng.permutation(len(labels))
    labels, subpops = labels[order], subpops[order]
    n = len(labels)
    x = rng.normal(0.0, spec.noise_std, size=(n, spec.patches, spec.dimension))
    x[:, :, : feature_span_size(spec)] = 0.0  # noise covariance sigma_p^2 (I - projection on features)
    signal_patch = rng.integers(0, spec.patches, size=n)
    x[np.arange(n), signal_patch] = features[labels, subpops]
    return {
        "x": x.astype(np.float32),
        "y": labels.astype(np.int64),
        "subpopulation": subpops.astype(np.int64),
        "signal_patch": signal_patch.astype(np.int64),
    }


def generate(spec: SyntheticData, seed: int) -> dict[str, np.ndarray]:
    """Train, test and public sets for one seed; each split has its own random stream."""
    train_rng, test_rng, public_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(SPLITS))
    )
    u, v = private_features(spec), public_features(spec)
    per_group_test = np.full((spec.num_classes, spec.subpopulations), spec.n_test_per_group)
    splits = {
        "train": sample_examples(spec, u, spec.group_counts(spec.n_train, imbalanced=True), train_rng),
        "test": sample_examples(spec, u, per_group_test, test_rng),
        "public": sample_examples(spec, v, spec.group_counts(spec.n_public, imbalanced=False), public_rng),
    }
    arrays = {f"{split}_{key}": value for split, arrays in splits.items() for key, value in arrays.items()}
    arrays["features"] = u.astype(np.float32)
    arrays["public_features"] = v.astype(np.float32)
    arrays["subpopulation_frequencies"] = spec.subpopulation_frequencies()
    arrays["train_group_counts"] = spec.group_counts(spec.n_train, imbalanced=True)
    arrays["spec"] = np.array(json.dumps(spec.__dict__, sort_keys=True))
    return arrays


# Arrays every dataset file holds, synthetic or images. Synthetic files add the patches
# (`<split>_x`), the features (`features`, `public_features`) and the signal positions
# (`<split>_signal_patch`); image files hold indices into the parsed source (`<split>_index`).
REQUIRED_ARRAYS = tuple(f"{split}_{key}" for split in SPLITS for key in ("y", "subpopulation")) + (
    "subpopulation_frequencies",
    "train_group_counts",
    "spec",
)
RAW_IMAGE_ARRAYS = ("train_x", "train_y", "test_x", "test_y")


def synthetic_settings(data_params: dict) -> dict:
    """The `data` settings the synthetic model uses (the rest describe image splits)."""
    return {key: data_params[key] for key in SyntheticData.__dataclass_fields__}


def num_classes(arrays: dict[str, np.ndarray]) -> int:
    """K of a dataset file, synthetic or images (read off its (classes, subpopulations) frequencies)."""
    return arrays["subpopulation_frequencies"].shape[0]


def save(path, arrays: dict[str, np.ndarray]) -> None:
    """Write a dataset file atomically (`dpharm.io.write_npz`)."""
    write_npz(path, arrays)


def load(path, raw_images=None) -> dict[str, np.ndarray]:
    """A dataset file's arrays with every split's patches (`<split>_x`): an image split file is
    materialised from `raw_images`, the parsed source it indexes. A truncated file or one lacking
    `REQUIRED_ARRAYS` raises CorruptFileError."""
    arrays = read_npz(path, REQUIRED_ARRAYS)
    if "train_x" in arrays:
        return arrays
    if raw_images is None:
        raise CorruptFileError(f"{path}: an image split file (indices) needs the parsed source it indexes")

    return materialize(arrays, _parsed_source(str(raw_images)))


@functools.lru_cache(maxsize=1)
def _parsed_source(path: str) -> dict[str, np.ndarray]:
    """The parsed image source (220 MB for Fashion-MNIST), read once per job rather than once
    per seed; `materialize` only indexes it, never writes to it."""
    return read_npz(path, RAW_IMAGE_ARRAYS)
