"""The output-level FNR against Monte Carlo, the weights-only FNR against the margins of a trained
model, and the predicted FNR against a computation by hand."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from dpharm.data import synthetic as datasets
from dpharm.data.synthetic import SyntheticData, feature_span_size, synthetic_settings
from dpharm.measurement.fnr import output_fnr, output_margins, predicted_fnr, relu_moments, weights_fnr
from dpharm.training.members import Member
from dpharm.training.model import build_model, set_filter_bank
from dpharm.training.opacus_training import train_members
from dpharm.training.settings import ModelSettings, TrainingSettings

# Two classes, one subpopulation each, d = 12, P = 3 patches: features on coordinates 0-1, public
# directions on 2-3 (span 4), noise patches N(0, sigma_p^2) on coordinates 4-11.
D, P, SIGMA_P, SPAN = 12, 3, 0.7, 4
FEATURES = np.zeros((2, 1, D))
FEATURES[0, 0, 0], FEATURES[1, 0, 1] = 3.0, 2.0


def hand_built_model():
    generator = torch.Generator().manual_seed(5)
    bank = torch.randn(2, 3, D, generator=generator) * 0.6
    bank[0, :, 0] += torch.tensor([1.0, 0.5, -0.2])  # class 0 filters see u_0
    bank[1, :, 1] += torch.tensor([0.8, 1.2, 0.1])
    model = build_model(ModelSettings(width=3, init_std=0.1), D, 2, seed=0)
    set_filter_bank(model, bank)
    return model, bank.double().numpy()


def monte_carlo_margins(bank: np.ndarray, label: int, n: int, rng) -> np.ndarray:
    """f = F_y - F_other by direct numpy arithmetic, independent of the model code."""
    noise = rng.normal(0.0, SIGMA_P, size=(n, P - 1, D))
    noise[..., :SPAN] = 0.0
    signal = np.maximum(bank @ FEATURES[label, 0], 0).mean(axis=1)  # (K,)
    noise_terms = np.maximum(np.einsum("kmd,npd->nkmp", bank, noise), 0).sum(axis=3).mean(axis=2)  # (n, K)
    logits = signal[None, :] + noise_terms
    return logits[:, label] - logits[:, 1 - label]


def test_relu_moments_match_sampling():
    rng = np.random.default_rng(0)
    scales, cosines = np.array([1.0, 2.0]), np.array([[1.0, 0.3], [0.3, 1.0]])
    covariance = np.outer(scales, scales) * cosines
    z = rng.multivariate_normal(np.zeros(2), covariance, size=400_000)
    means, moments = relu_moments(scales, cosines)
    np.testing.assert_allclose(means, np.maximum(z, 0).mean(axis=0), rtol=0.01)
    np.testing.assert_allclose(moments, np.cov(np.maximum(z, 0).T), rtol=0.02, atol=0.003)


def test_output_fnr_and_weights_fnr_of_a_hand_built_bank_match_monte_carlo():
    model, bank = hand_built_model()
    rng = np.random.default_rng(1)
    exact = weights_fnr(model, FEATURES, SPAN, SIGMA_P, P)
    for label in (0, 1):
        margins = monte_carlo_margins(bank, label, 200_000, rng)
        sampled = margins.mean() / margins.std()
        assert exact[(label, 0)] == pytest.approx(sampled, rel=0.02)
        # the model's own forward pass on the same kind of examples gives the same ratio
        x = np.zeros((20_000, P, D), dtype=np.float32)
        x[:, 0] = FEATURES[label, 0]
        x[:, 1:] = rng.normal(0.0, SIGMA_P, size=(20_000, P - 1, D))
        x[:, 1:, :SPAN] = 0.0
        y = torch.full((20_000,), label)
        measured = output_fnr(output_margins(model, torch.from_numpy(x), y), y.numpy(), np.zeros(20_000, dtype=int))
        assert measured[(label, 0)] == pytest.approx(sampled, rel=0.05)


def test_weights_only_fnr_agrees_with_the_margins_of_a_trained_model():
    spec = SyntheticData(**{**synthetic_settings({
        "dimension": 200, "patches": 2, "noise_std": 1.0, "num_classes": 2, "feature_norm": 6.0,
        "minority_feature_norm": None, "tail_frequency": 0.0, "tail_feature_norm": None, "imbalance_ratio": 1.0,
        "n_train": 100, "n_test_per_group": 4000, "n_public": 0, "shift_angle": 0.0})})  # fmt: skip
    arrays = datasets.generate(spec, seed=3)
    x, y = torch.from_numpy(arrays["train_x"]), torch.from_numpy(arrays["train_y"])
    model = build_model(ModelSettings(width=10, init_std=0.01), 200, 2, seed=3)
    training = TrainingSettings(steps=40, learning_rate=5.0, batch_size=100, clip_norm=0.1, delta=1e-5)
    train_members([Member(model, x, y, 3)], [4.0], training=training, device=torch.device("cpu"))
    test_x, test_y = torch.from_numpy(arrays["test_x"]), torch.from_numpy(arrays["test_y"])
    measured = output_fnr(output_margins(model, test_x, test_y), arrays["test_y"], arrays["test_subpopulation"])
    exact = weights_fnr(model, arrays["features"], feature_span_size(spec), 1.0, 2)
    for group in exact:
        standard_error = math.sqrt((1 + measured[group] ** 2 / 2) / 4000)
        assert abs(exact[group] - measured[group]) < 3 * standard_error, group


# The configuration of the prediction tests: two groups of 12 and 8 examples with ||u|| = 3, d = 104, k = 4.
DATA = {"dimension": 104, "patches": 2, "noise_std": 0.5, "num_classes": 2}
MODEL = {"width": 4, "init_std": 0.1, "frozen_fraction": 0.0}
TRAINING = {"batch_size": 20, "steps": 100, "learning_rate": 2.0, "clip_norm": 0.2, "augmentation_multiplicity": 1,
            "init": "scratch"}  # fmt: skip
COUNTS, NORMS = np.array([[12], [8]]), np.array([[3.0], [3.0]])


def test_predicted_fnr_matches_a_computation_by_hand():
    """One private configuration, every step of docs/measurements.md written out."""
    result = predicted_fnr(DATA, MODEL, TRAINING, COUNTS, NORMS, noise_multiplier=1.5, span_size=4)

    # ||xi||^2 = 0.25 * 100 = 25; DP noise per step 2 * 1.5 * 0.2 / 20 = 0.03; sigma_w^2 = 0.01 + 100 * 0.0009 = 0.1
    sigma_w = math.sqrt(0.1)
    # output sd = sqrt(1 * (1/2 - 1/(2 pi)) * 25 * 2 * 4 * 0.1) / 4
    output_sd = math.sqrt((0.5 - 0.5 / math.pi) * 25 * 0.8) / 4
    # gradient (x m): sqrt(4 * 9 + 1 * 2 * 4 / 2 * 25) = sqrt(136); clipped slope 0.2 * 4 / sqrt(136)
    slope = 0.8 / math.sqrt(136)
    saturation = math.log(math.sqrt(136) / 0.8)
    for group, share in (((0, 0), 0.6), ((1, 0), 0.4)):
        rate = 2.0 * share * 4 / 16 * 9  # lr * share * m_t / m^2 * ||u||^2
        t_saturation = saturation / (rate * slope)
        margin = (
            rate * slope * 100 if t_saturation >= 100 else math.log(math.exp(saturation) + rate * (100 - t_saturation))
        )
        push = margin * 4 / (4 * 3.0)
        drift = 2.0 * share * slope * 3.0 / 4 * 10 / 0.03  # lr share slope ||u|| / m * sqrt(T) / step noise
        own = push * stats.norm.cdf(push / sigma_w) + sigma_w * stats.norm.pdf(push / sigma_w)
        rival = sigma_w / math.sqrt(2 * math.pi) / (1 + drift / 2)
        assert result[group] == pytest.approx(3.0 * (own - rival) / output_sd, rel=1e-9), group


def test_prediction_covers_private_runs_from_scratch_only():
    assert all(math.isnan(v) for v in predicted_fnr(DATA, MODEL, TRAINING, COUNTS, NORMS, 0.0, 4).values())
    pretrained = {**TRAINING, "init": "pretrained"}
    assert all(math.isnan(v) for v in predicted_fnr(DATA, MODEL, pretrained, COUNTS, NORMS, 1.5, 4).values())
