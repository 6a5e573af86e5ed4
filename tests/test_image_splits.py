"""Real-image splits: patches, imbalance, long tail, public shift (SPEC section 6)."""

import numpy as np
import pytest

from dpharm.image_splits import patchify, real_splits

DIGITS = dict(
    classes=[1, 0, 2, 8],
    tail_source=7,
    minority_fraction=0.25,
    tail_frequency=0.2,
    public_fraction=0.3,
    shift_angle=0.0,
    patch_size=4,
)


@pytest.fixture(scope="module")
def raw():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)
    images = rng.random((1000, 1, 8, 8)).astype(np.float32)
    images[:, 0, 0, 0] = labels  # lets the test trace every example back to its source digit
    return {"train_x": images, "train_y": labels, "test_x": images[::2], "test_y": labels[::2]}


def digit_of(x: np.ndarray) -> np.ndarray:
    return np.rint(x[:, 0, 0]).astype(int)  # pixel (0, 0) sits first in patch 0


def test_patches_are_non_overlapping_blocks():
    images = np.arange(2 * 3 * 8 * 8, dtype=np.float32).reshape(2, 3, 8, 8)
    patches = patchify(images, 4)
    assert patches.shape == (2, 4, 48)
    assert np.array_equal(patches[1, 3].reshape(3, 4, 4), images[1, :, 4:, 4:])  # bottom-right block
    with pytest.raises(ValueError, match="does not divide"):
        patchify(images, 3)


def test_minority_fraction_tail_frequency_and_class_sources(raw):
    arrays = real_splits(raw, DIGITS, seed=0)
    counts = arrays["train_group_counts"]
    private_per_digit = 70  # 100 per digit, 30% held out as public
    assert counts[1, 0] == counts[2, 0] == private_per_digit
    assert counts[3, 0] == round(private_per_digit * 0.25)  # digit 8 reduced
    assert counts[0, 1] / counts[0].sum() == pytest.approx(0.2, abs=0.01)  # tail share of class 0
    digits = digit_of(arrays["train_x"])
    y, sub = arrays["train_y"], arrays["train_subpopulation"]
    assert set(digits[(y == 0) & (sub == 0)]) == {1} and set(digits[(y == 0) & (sub == 1)]) == {7}
    assert set(digits[y == 3]) == {8}
    assert np.allclose(arrays["subpopulation_frequencies"].sum(axis=1), 1.0)


def test_public_set_is_disjoint_and_rotated(raw):
    plain = real_splits(raw, DIGITS, seed=1)
    rotated = real_splits(raw, {**DIGITS, "shift_angle": 90.0}, seed=1)
    assert len(plain["public_y"]) == round(0.3 * 100) * 5  # 4 classes + the tail source
    train_rows = {row.tobytes() for row in plain["train_x"]}
    assert not any(row.tobytes() in train_rows for row in plain["public_x"])
    assert np.array_equal(plain["train_x"], rotated["train_x"])  # only the public images move
    assert not np.allclose(plain["public_x"], rotated["public_x"])
