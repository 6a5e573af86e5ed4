"""Real-image splits: patches, imbalance, long tail, public shift, stored as indices."""

import json

import numpy as np
import pytest

from dpharm.data.image_splits import materialize, patchify, real_splits, rotate

DIGITS = dict(
    classes=[1, 0, 2, 8],
    tail_source=7,
    minority_fraction=0.25,
    tail_frequency=0.2,
    public_fraction=0.3,
    shift_angle=0.0,
    patch_size=4,
    public_source=None,
    pixel_mean=0.0,
    pixel_std=1.0,
)


@pytest.fixture(scope="module")
def raw():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)
    images = rng.random((1000, 1, 8, 8)).astype(np.float32)
    images[:, 0, 0, 0] = labels  # lets the test trace every example back to its source digit
    return {"train_x": images, "train_y": labels, "test_x": images[::2], "test_y": labels[::2]}


def digit_of(images: np.ndarray) -> np.ndarray:
    return np.rint(images[:, 0, 0, 0]).astype(int)


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
    digits = digit_of(raw["train_x"][arrays["train_index"]])
    y, sub = arrays["train_y"], arrays["train_subpopulation"]
    assert set(digits[(y == 0) & (sub == 0)]) == {1} and set(digits[(y == 0) & (sub == 1)]) == {7}
    assert set(digits[y == 3]) == {8}
    assert np.allclose(arrays["subpopulation_frequencies"].sum(axis=1), 1.0)


def test_public_set_is_disjoint_and_rotated(raw):
    plain = materialize(real_splits(raw, DIGITS, seed=1), raw)
    rotated = materialize(real_splits(raw, {**DIGITS, "shift_angle": 90.0}, seed=1), raw)
    assert len(plain["public_y"]) == round(0.3 * 100) * 5  # 4 classes + the tail source
    assert not set(plain["public_index"]) & set(plain["train_index"])
    assert np.array_equal(plain["train_x"], rotated["train_x"])  # only the public images move
    expected = patchify(rotate(raw["train_x"][rotated["public_index"]], 90.0), 4)
    assert np.array_equal(rotated["public_x"], expected) and not np.allclose(plain["public_x"], expected)


def test_split_files_hold_indices_and_materialize_the_patches(raw):
    split_file = real_splits(raw, DIGITS, seed=2)
    assert not any(key.endswith("_x") for key in split_file)  # no copies of the images
    assert json.loads(str(split_file["spec"]))["patch_size"] == 4
    arrays = materialize(split_file, raw)
    for split, source in (("train", "train_x"), ("test", "test_x")):
        assert np.array_equal(arrays[f"{split}_x"], patchify(raw[source][split_file[f"{split}_index"]], 4))
        digits, y = digit_of(raw[source][split_file[f"{split}_index"]]), split_file[f"{split}_y"]
        head = split_file[f"{split}_subpopulation"] == 0
        assert np.array_equal(digits[head], np.array(DIGITS["classes"])[y[head]])  # labels follow the indices
        assert set(digits[~head]) == {DIGITS["tail_source"]}


def test_public_data_from_another_data_set_keeps_the_private_split(raw):
    fashion_like = {**raw, "train_x": np.repeat(np.repeat(raw["train_x"], 2, axis=2), 2, axis=3)}  # 16x16
    fashion_like["test_x"] = fashion_like["train_x"][::2]
    design = {**DIGITS, "public_source": "digits"}
    held_out, other = real_splits(fashion_like, DIGITS, seed=3), real_splits(fashion_like, design, seed=3)
    assert np.array_equal(held_out["train_index"], other["train_index"])  # the same private set
    arrays = materialize(other, fashion_like)
    assert arrays["public_x"].shape[1:] == arrays["train_x"].shape[1:]  # digits upscaled to 16x16
    from dpharm.data.image_sources import load_digits_images

    digit_labels = load_digits_images()[1]
    assert np.array_equal(digit_labels[other["public_index"]], np.array(DIGITS["classes"])[other["public_y"]])
    assert len(other["public_y"]) == sum((digit_labels == d).sum() for d in DIGITS["classes"])


def test_the_split_sizes_known_before_any_job_are_the_ones_cut():
    from dpharm.data.image_sources import load_digits_splits
    from dpharm.data.image_splits import TRAIN_LABEL_COUNTS, training_group_sizes

    raw = load_digits_splits()
    assert tuple(np.bincount(raw["train_y"])) == TRAIN_LABEL_COUNTS["digits"]
    data = {**DIGITS, "source": "digits"}
    counts = real_splits(raw, data, seed=0)["train_group_counts"]
    expected = [*counts[:, 0], counts[0, 1]]  # every class's head, then class 0's tail
    assert list(training_group_sizes(data).values()) == expected


def test_a_split_that_empties_a_group_is_refused_naming_the_keys(raw):
    with pytest.raises(ValueError, match="class 3 .* no training examples; raise config keys data.minority_fraction"):
        real_splits(raw, {**DIGITS, "minority_fraction": 0.001}, seed=0)
