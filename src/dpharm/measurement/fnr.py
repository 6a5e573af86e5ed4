"""The feature-to-noise ratio (FNR) of the synthetic model, measured four ways (docs/measurements.md).

- `output_fnr` (`fnr_measured`): mean over std of the output margin f = F_y(x) - max_{c != y} F_c(x)
  over a group's test examples: what the network's error depends on.
- `weights_fnr` (`fnr_weights`): the same ratio from the weights alone, the noise term's exact
  mean and standard deviation for Gaussian noise patches (the arc-cosine kernel of ReLU).
- `filter_fnr` (`fnr_filter`): the signal margin over the noise one filter sees, the measure of
  earlier versions, kept for comparison.
- `predicted_fnr` (`fnr_predicted`): a closed form from the hyper-parameters alone.

Every dict maps (class, subpopulation) to the ratio.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dpharm.training.model import TwoLayerPatchCNN, frozen_width
from dpharm.training.privacy import poisson_sample_rate


@torch.no_grad()
def output_margins(model: TwoLayerPatchCNN, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """f = F_y(x) - max_{c != y} F_c(x) of every example: positive when it is classified right."""
    logits = model(x).double()
    own = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], -math.inf).max(dim=1).values
    return (own - others).cpu().numpy()


def output_fnr(margins: np.ndarray, labels: np.ndarray, subpops: np.ndarray) -> dict[tuple[int, int], float]:
    """mean(f) / sd(f) over the test examples of every (class, subpopulation) present."""
    result = {}
    for c, s in sorted({(int(c), int(s)) for c, s in zip(labels, subpops, strict=True)}):
        group = margins[(labels == c) & (subpops == s)]
        result[(c, s)] = float(group.mean() / group.std(ddof=1))
    return result


def _off_span(weights: np.ndarray, span_size: int) -> np.ndarray:
    """The filters' components off the feature coordinates, where noise patches live."""
    flat = weights.reshape(-1, weights.shape[-1]).copy()
    flat[:, :span_size] = 0.0
    return flat


def _signal_strengths(weights: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """(1/m) sum_r ReLU(<w_{k,r}, u>) for every class k: the signal patch's part of each logit."""
    return np.maximum(weights @ feature, 0.0).mean(axis=1)


def relu_moments(scales: np.ndarray, cosines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean E[ReLU(z_i)] and covariance Cov(ReLU(z_i), ReLU(z_j)) of zero-mean jointly Gaussian z
    with standard deviations `scales` and correlations `cosines` (Cho & Saul's arc-cosine kernel:
    E[ReLU(z_i) ReLU(z_j)] = s_i s_j (sin t + (pi - t) cos t) / (2 pi), t = arccos(cos))."""
    angles = np.arccos(np.clip(cosines, -1.0, 1.0))
    kernel = np.sin(angles) + (math.pi - angles) * np.cos(angles)
    outer = np.outer(scales, scales)
    return scales / math.sqrt(2 * math.pi), outer * (kernel - 1.0) / (2 * math.pi)


def weights_fnr(
    model: TwoLayerPatchCNN, features: np.ndarray, span_size: int, noise_std: float, patches: int
) -> dict[tuple[int, int], float]:
    """The output FNR a group's test examples would show, from the weights alone.

    The signal patch adds S_k = (1/m) sum_r ReLU(<w_{k,r}, u>) to logit k; each of the P - 1 noise
    patches xi ~ N(0, sigma_p^2 P_perp) adds (1/m) sum_r ReLU(<w_{k,r}, xi>), whose mean and
    covariance over (k, r) are exact (`relu_moments`). With c the group's class and k the other
    class of largest signal strength, FNR = (S_c - S_k + E[D]) / sd(D) for D the noise terms of
    logit c minus logit k (exact for two classes; for more, the runner-up class is fixed by S).
    """
    weights = model.filter_bank().detach().double().cpu().numpy()  # (K, m, d)
    classes, width, _ = weights.shape
    off = _off_span(weights, span_size)
    norms = np.linalg.norm(off, axis=1)
    cosines = (off @ off.T) / np.maximum(np.outer(norms, norms), 1e-300)
    means, covariance = relu_moments(noise_std * norms, cosines)
    result = {}
    for c, s in np.ndindex(features.shape[:2]):
        strengths = _signal_strengths(weights, features[c, s])
        rival = int(np.argmax(np.where(np.arange(classes) == c, -np.inf, strengths)))
        signs = np.zeros(classes * width)
        signs[c * width : (c + 1) * width] = 1.0 / width
        signs[rival * width : (rival + 1) * width] = -1.0 / width
        mean = strengths[c] - strengths[rival] + (patches - 1) * signs @ means
        result[(c, s)] = float(mean / math.sqrt((patches - 1) * signs @ covariance @ signs))
    return result


def filter_fnr(
    model: TwoLayerPatchCNN, features: np.ndarray, span_size: int, noise_std: float
) -> dict[tuple[int, int], float]:
    """The signal margin over the noise a single filter sees, sigma_p sqrt(d - k) sigma_w.

    sigma_w is the per-coordinate spread of all filters off the feature coordinates. It ignores
    that the output averages m filters, so it falls with the width while the error does not
    (kept for comparison with earlier results).
    """
    weights = model.filter_bank().detach().double().cpu().numpy()
    off = _off_span(weights, span_size)
    free_dims = weights.shape[-1] - span_size
    noise_scale = noise_std * math.sqrt(free_dims) * math.sqrt((off**2).sum() / (off.shape[0] * free_dims))
    result = {}
    for c, s in np.ndindex(features.shape[:2]):
        strengths = _signal_strengths(weights, features[c, s])
        result[(c, s)] = float((strengths[c] - np.delete(strengths, c).max()) / noise_scale)
    return result


def _relu_mean(mean: float, std: float) -> float:
    """E[ReLU(z)] for z ~ N(mean, std^2)."""
    if std == 0:
        return max(mean, 0.0)
    ratio = mean / std
    return mean * _phi(ratio) + std * math.exp(-0.5 * ratio**2) / math.sqrt(2 * math.pi)


def _phi(value: float) -> float:
    return 0.5 * (1 + math.erf(value / math.sqrt(2)))


def _margin_after_training(rate: float, clipped_slope: float, saturation: float, steps: int) -> float:
    """The signal margin M after `steps`: it grows at rate x clipped slope while clipping binds,
    up to the margin `saturation` where the loss slope e^-M falls below the clipped one, then
    at rate x e^-M, i.e. M = log(e^saturation + rate (T - t_saturation))."""
    saturating_at = saturation / (rate * clipped_slope)
    if saturating_at >= steps:
        return rate * clipped_slope * steps
    return math.log(math.exp(saturation) + rate * (steps - saturating_at))


def predicted_fnr(
    data: dict,
    model: dict,
    training: dict,
    group_counts: np.ndarray,
    norms: np.ndarray,
    noise_multiplier: float,
    span_size: int,
) -> dict[tuple[int, int], float]:
    """The output FNR predicted from the hyper-parameters alone (derivation: docs/measurements.md).

    Private runs trained from scratch only: a non-private run memorises its training noise
    patches and a fine-tuned one starts from what pre-training learnt, neither of which this
    closed form follows, so their prediction is NaN.
    """
    if noise_multiplier <= 0 or training["init"] != "scratch":
        return {(c, s): math.nan for c, s in np.ndindex(norms.shape)}
    n = float(group_counts.sum())
    batch = n * poisson_sample_rate(int(n), training["batch_size"])  # expected Poisson batch
    steps, lr, clip = training["steps"], training["learning_rate"], training["clip_norm"]
    width, classes, patches = model["width"], data["num_classes"], data["patches"]
    trainable = width - frozen_width(width, model["frozen_fraction"])
    noise_power = data["noise_std"] ** 2 * (data["dimension"] - span_size)  # E||xi||^2 of a noise patch
    step_noise = lr * noise_multiplier * clip / batch  # DP noise per coordinate and step
    sigma_w = math.sqrt(model["init_std"] ** 2 + steps * step_noise**2)  # trainable filters
    # the noise term of the output margin: (P - 1) patches, 2m filters, Var ReLU(z) = s^2 (1/2 - 1/(2 pi))
    output_sd = math.sqrt(
        (patches - 1) * (0.5 - 0.5 / math.pi) * noise_power
        * 2 * (trainable * sigma_w**2 + (width - trainable) * model["init_std"] ** 2)
    ) / width  # fmt: skip
    result = {}
    for (c, s), norm in np.ndenumerate(norms):
        # m x an example's gradient norm per unit loss slope: its class's trainable filters on the
        # signal patch, half of all trainable filters on each noise patch (averaged over the views)
        gradient = math.sqrt(trainable * norm**2 + (patches - 1) * classes * trainable / 2 * noise_power
                             / training["augmentation_multiplicity"])  # fmt: skip
        clipped_slope = min(1.0, clip * width / gradient)
        share = group_counts[c, s] / n
        rate = lr * share * trainable / width**2 * norm**2  # margin gained per step per unit slope
        margin = _margin_after_training(rate, clipped_slope, math.log(max(1.0, 1 / clipped_slope)), steps)
        push = margin * width / (trainable * norm)  # along u, per own trainable filter
        # the other class's filters are pushed off u only while they are positive on it: their
        # ReLU part shrinks with drift over noise, x; 1 / (1 + x / 2) approximates it (measured)
        drift = lr * share * clipped_slope * norm / width * math.sqrt(steps) / max(step_noise, 1e-300)
        rival = _relu_mean(0.0, sigma_w) / (1 + drift / 2)
        result[(c, s)] = float(trainable / width * norm * (_relu_mean(push, sigma_w) - rival) / output_sd)
    return result
