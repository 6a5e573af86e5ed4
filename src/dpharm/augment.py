"""Augmented views for augmentation multiplicity (De et al., 2022) on the synthetic model.

A view keeps the example's signal patch (its only private content) and redraws what the data
model draws independently of the example: the position of the signal patch and the noise
patches. That is the theory's model of augmentation: an oracle that samples fresh noise from
the generating distribution, which no real augmentation of real data can do. Views are made
inside the training step from each sampled example alone, so the example's gradient (averaged
over its views by the loss) is still clipped as one example.
"""

from __future__ import annotations

import functools

import torch

from dpharm.data import SyntheticData, feature_span_size, synthetic_settings
from dpharm.members import ViewMaker


def synthetic_views(
    x: torch.Tensor,
    signal_patch: torch.Tensor,
    generator: torch.Generator,
    *,
    views: int,
    noise_std: float,
    feature_span: int,
) -> torch.Tensor:
    """(batch, patches, d) -> (batch, views, patches, d)."""
    batch, patches, dimension = x.shape
    signal = x[torch.arange(batch), signal_patch]  # (batch, d)
    noise = torch.randn(batch, views, patches, dimension, generator=generator) * noise_std
    noise[..., :feature_span] = 0.0  # noise stays orthogonal to every feature, as in the data
    positions = torch.randint(0, patches, (batch, views), generator=generator)
    noise[torch.arange(batch)[:, None], torch.arange(views)[None, :], positions] = signal[:, None, :]
    return noise.to(x.device)


def view_maker(params: dict) -> ViewMaker | None:
    """The view maker of a condition's `training.augmentation_multiplicity`, or None when k = 1."""
    views = params["training"]["augmentation_multiplicity"]
    if views == 1:
        return None
    return functools.partial(
        synthetic_views,
        views=views,
        noise_std=params["data"]["noise_std"],
        feature_span=feature_span_size(SyntheticData(**synthetic_settings(params["data"]))),
    )
