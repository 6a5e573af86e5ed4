"""Test-time measurements (docs/model.md, measurements): per-group loss and accuracy, FNR, PGD attacks.

Groups: every (class, subpopulation) pair ('class1/tail'), every class ('class1': its
subpopulations weighted by their within-class frequency) and 'all' (classes weighted
equally, i.e. balanced). A synthetic test set holds equally many examples of every group; an
image test set is its source's whole test split, whose group sizes differ, which these
weighted means do not depend on.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from dpharm.data.groups import ALL, group_name
from dpharm.data.synthetic import SyntheticData, feature_span_size, synthetic_settings
from dpharm.measurement import fnr
from dpharm.training.model import TwoLayerPatchCNN, per_example_loss_and_correct


def _loss_and_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    loss, correct = per_example_loss_and_correct(model, x, y)
    return loss.cpu().numpy(), correct.cpu().numpy().astype(float)


def group_means(
    values: np.ndarray, labels: np.ndarray, subpops: np.ndarray, frequencies: np.ndarray
) -> dict[str, float]:
    """Mean of a per-example quantity for every group (see module docstring)."""
    num_classes, num_subpops = frequencies.shape
    means: dict[str, float] = {}
    class_means = []
    for c in range(num_classes):
        class_mean = 0.0
        for s in range(num_subpops):
            if frequencies[c, s] == 0:  # a class without this subpopulation (images: only class 0 has a tail)
                continue
            mean = float(values[(labels == c) & (subpops == s)].mean())
            if num_subpops > 1:
                means[group_name(c, s)] = mean
            class_mean += frequencies[c, s] * mean
        means[group_name(c)] = class_mean
        class_means.append(class_mean)
    means[ALL] = float(np.mean(class_means))
    return means


def _flat_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


def pgd(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, radius: float, steps: int, step_size: float, norm: str = "l2"
) -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy within an l2 or l_inf ball (all patches)."""
    delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(x + delta), y)
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            if norm == "l2":
                delta = delta + step_size * radius * grad / _flat_norm(grad)
                delta = delta * torch.clamp(radius / _flat_norm(delta), max=1.0)
            else:
                delta = (delta + step_size * radius * grad.sign()).clamp(-radius, radius)
    return (x + delta).detach()


def evaluate(
    model: TwoLayerPatchCNN, arrays: dict[str, np.ndarray], params: dict, noise_multiplier: float
) -> list[dict]:
    """Rows (group, metric, attack_radius, value) for one trained model."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.from_numpy(arrays["test_x"])
    y = torch.from_numpy(arrays["test_y"])
    labels, subpops = arrays["test_y"], arrays["test_subpopulation"]
    frequencies = arrays["subpopulation_frequencies"]
    rows = []

    def add(metric: str, values: np.ndarray, radius: float = math.nan) -> None:
        """Append one row per group (`group_means`) of a per-example quantity."""
        for group, value in group_means(values, labels, subpops, frequencies).items():
            rows.append({"group": group, "metric": metric, "attack_radius": radius, "value": value})

    loss, correct = _loss_and_correct(model, x, y)
    add("test_loss", loss)
    add("test_accuracy", correct)
    evaluation, synthetic = params["evaluation"], params["data"]["source"] == "synthetic"
    # Budgets: synthetic ones in units of ||u||, image ones in pixel units (inputs are pixel / pixel_std).
    unit = params["data"]["feature_norm"] if synthetic else 1.0 / params["data"]["pixel_std"]
    attacks = [("", "l2", r) for r in evaluation["attack_radii"]] + [
        ("_linf", "linf", r) for r in evaluation["linf_radii"]
    ]
    for suffix, norm, radius in attacks:
        x_adv = (
            x
            if radius == 0
            else pgd(model, x, y, radius * unit, evaluation["pgd_steps"], evaluation["pgd_step_size"], norm)
        )
        adv_loss, adv_correct = _loss_and_correct(model, x_adv, y)
        add(f"adversarial_loss{suffix}", adv_loss, radius)
        add(f"adversarial_accuracy{suffix}", adv_correct, radius)
    rows += fnr_rows(model, arrays, params, noise_multiplier)
    return rows


def fnr_rows(
    model: TwoLayerPatchCNN, arrays: dict[str, np.ndarray], params: dict, noise_multiplier: float
) -> list[dict]:
    """The FNR rows (`dpharm.measurement.fnr`) of every (class, subpopulation) ('class<c>' when there is no
    tail): the measured (output-level) FNR of any data; the weights-only, per-filter and
    predicted ones only on synthetic data, which has the `features` they need."""
    frequencies = arrays["subpopulation_frequencies"]
    x, y = torch.from_numpy(arrays["test_x"]), torch.from_numpy(arrays["test_y"])
    margins = fnr.output_margins(model, x, y)
    by_metric = {"fnr_measured": fnr.output_fnr(margins, arrays["test_y"], arrays["test_subpopulation"])}
    if "features" in arrays:
        data = params["data"]
        span_size = feature_span_size(SyntheticData(**synthetic_settings(data)))
        features, norms = arrays["features"], np.linalg.norm(arrays["features"], axis=-1)
        by_metric |= {
            "fnr_weights": fnr.weights_fnr(model, features, span_size, data["noise_std"], data["patches"]),
            "fnr_filter": fnr.filter_fnr(model, features, span_size, data["noise_std"]),
            "fnr_predicted": fnr.predicted_fnr(data, params["model"], params["training"],
                                               arrays["train_group_counts"], norms, noise_multiplier, span_size),
        }  # fmt: skip
    return [
        {
            "group": group_name(c, s if frequencies.shape[1] > 1 else None),
            "metric": metric,
            "attack_radius": math.nan,
            "value": value,
        }
        for metric, by_group in by_metric.items()
        for (c, s), value in by_group.items()
    ]
