"""The synthetic data model's statistics (SPEC section 2)."""

import math

import numpy as np
import pytest

from dpharm.data.synthetic import (
    SyntheticData,
    feature_span_size,
    generate,
    load,
    private_features,
    public_features,
    save,
    synthetic_settings,
)
from dpharm.io import CorruptFileError


def spec(data_params, **overrides) -> SyntheticData:
    return SyntheticData(**synthetic_settings({**data_params, **overrides}))


def test_features_are_orthogonal_with_configured_norms(data_params):
    s = spec(
        data_params,
        num_classes=3,
        feature_norm=5.0,
        minority_feature_norm=2.0,
        tail_frequency=0.2,
        tail_feature_norm=1.5,
    )
    u = private_features(s).reshape(-1, s.dimension)
    gram = u @ u.T
    assert np.allclose(gram - np.diag(np.diag(gram)), 0.0)
    norms = np.linalg.norm(private_features(s), axis=-1)
    assert np.allclose(norms, [[5.0, 1.5], [5.0, 1.5], [2.0, 1.5]])


@pytest.mark.parametrize("angle", [0.0, 30.0, 90.0])
def test_public_features_are_shifted_by_theta(data_params, angle):
    s = spec(data_params, shift_angle=angle, tail_frequency=0.3)
    u, v = private_features(s), public_features(s)
    cosine = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    assert np.allclose(cosine, math.cos(math.radians(angle)))
    assert np.allclose(np.linalg.norm(v, axis=-1), np.linalg.norm(u, axis=-1))
    # the shifted component is orthogonal to every private feature
    shifted = (v - math.cos(math.radians(angle)) * u).reshape(-1, s.dimension)
    assert np.allclose(shifted @ u.reshape(-1, s.dimension).T, 0.0)


def test_noise_patches_have_projected_isotropic_covariance(data_params):
    s = spec(data_params, dimension=60, n_train=4000, noise_std=2.0, tail_frequency=0.25)
    arrays = generate(s, seed=3)
    x, signal = arrays["train_x"].astype(float), arrays["train_signal_patch"]
    noise_patch = 1 - signal  # two patches: the other one is noise
    noise = x[np.arange(len(x)), noise_patch]
    k = feature_span_size(s)
    assert np.all(noise[:, :k] == 0.0), "noise must be orthogonal to every feature"
    covariance = np.cov(noise[:, k:], rowvar=False)
    tolerance = 4 * 4.0 * math.sqrt(2 / len(x))  # ~4 standard errors of a variance estimate
    assert np.abs(np.diag(covariance) - 4.0).max() < tolerance
    off_diagonal = covariance - np.diag(np.diag(covariance))
    assert np.abs(off_diagonal).max() < tolerance


def test_signal_patch_holds_the_group_feature(data_params):
    s = spec(data_params, dimension=40, n_train=300, tail_frequency=0.3, tail_feature_norm=3.0)
    arrays = generate(s, seed=0)
    u = private_features(s)
    x, y, sub, pos = (arrays[f"train_{k}"] for k in ("x", "y", "subpopulation", "signal_patch"))
    assert np.allclose(x[np.arange(len(y)), pos], u[y, sub])
    assert 0.4 < pos.mean() < 0.6  # signal position uniform over the two patches


@pytest.mark.parametrize("rho", [1.0, 4.0, 9.0])
def test_imbalance_ratio_and_tail_frequency(data_params, rho):
    s = spec(data_params, n_train=1000, imbalance_ratio=rho, tail_frequency=0.2)
    arrays = generate(s, seed=1)
    y, sub = arrays["train_y"], arrays["train_subpopulation"]
    assert len(y) == 1000
    assert (y == 0).sum() / (y == 1).sum() == pytest.approx(rho, rel=0.02)
    for c in (0, 1):
        assert (sub[y == c] == 1).mean() == pytest.approx(0.2, abs=0.01)
    test_counts = np.bincount(arrays["test_y"] * 2 + arrays["test_subpopulation"])
    assert np.all(test_counts == s.n_test_per_group)


def test_same_seed_same_data_and_splits_independent(data_params):
    s = spec(data_params, dimension=30, n_train=50)
    a, b = generate(s, seed=7), generate(s, seed=7)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    bigger_test = generate(spec(data_params, dimension=30, n_train=50, n_test_per_group=500), seed=7)
    assert np.array_equal(a["train_x"], bigger_test["train_x"])
    assert not np.array_equal(a["train_x"], generate(s, seed=8)["train_x"])


def test_saved_dataset_round_trips_and_truncation_is_detected(tmp_path, data_params):
    s = spec(data_params, dimension=30, n_train=50, n_public=20)
    path = tmp_path / "data.npz"
    save(path, generate(s, seed=0))
    assert np.array_equal(load(path)["public_x"], generate(s, seed=0)["public_x"])
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CorruptFileError, match="data.npz"):
        load(path)
