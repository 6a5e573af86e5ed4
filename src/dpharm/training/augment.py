"""Augmented views for augmentation multiplicity (De et al., 2022): on the synthetic model and
on real images.

A view keeps the example's signal patch (its only private content) and redraws what the data
model draws independently of the example: the position of the signal patch and the noise
patches. That is the theory's model of augmentation: an oracle that samples fresh noise from
the generating distribution, which no real augmentation of real data can do. Views are made
inside the training step from each sampled example alone, so the example's gradient (averaged
over its views by the loss) is still clipped as one example.

On real images a view is the usual augmentation: the image shifted by up to `MAX_SHIFT` pixels
each way (the uncovered border filled with the background) and flipped left-right with
probability 1/2, then cut into patches again.
"""

from __future__ import annotations

import functools
import math

import torch

from dpharm.data.synthetic import SyntheticData, feature_span_size, synthetic_settings
from dpharm.training.members import ViewMaker


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


MAX_SHIFT = 2  # pixels, each direction (as in De et al., 2022, for 32x32 images: 4)


def unpatchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(n, patches, C * patch * patch) of square images -> (n, C, H, W); undoes `patchify`."""
    n, patches, dimension = x.shape
    side, channels = math.isqrt(patches), dimension // (patch * patch)
    grid = x.reshape(n, side, side, channels, patch, patch)
    return grid.permute(0, 3, 1, 4, 2, 5).reshape(n, channels, side * patch, side * patch)


def image_views(
    x: torch.Tensor, _signal_patch, generator: torch.Generator, *, views: int, patch: int, background: float
) -> torch.Tensor:
    """(batch, patches, d) patched images -> (batch, views, patches, d): each view shifted by a
    random offset in [-MAX_SHIFT, MAX_SHIFT]^2 and flipped left-right with probability 1/2."""
    images = unpatchify(x, patch).repeat_interleave(views, dim=0)  # (batch * views, C, H, W)
    count, channels, height, width = images.shape
    padded = torch.nn.functional.pad(images, (MAX_SHIFT,) * 4, value=background)
    shifts = torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (count, 2), generator=generator)
    flips = torch.rand(count, generator=generator) < 0.5
    columns = torch.arange(width).expand(count, width)
    columns = torch.where(flips[:, None], width - 1 - columns, columns)
    rows = torch.arange(height)[None, :] + MAX_SHIFT + shifts[:, :1]
    columns = columns + MAX_SHIFT + shifts[:, 1:]
    moved = padded[
        torch.arange(count)[:, None, None, None],
        torch.arange(channels)[None, :, None, None],
        rows[:, None, :, None],
        columns[:, None, None, :],
    ]
    grid = moved.reshape(count, channels, height // patch, patch, width // patch, patch)
    patches = grid.permute(0, 2, 4, 1, 3, 5)  # the order of `image_splits.patchify`
    return patches.reshape(x.shape[0], views, x.shape[1], x.shape[2])


def background_value(data: dict) -> float:
    """A blank (0) pixel after the fixed standardisation of the images."""
    return -data["pixel_mean"] / data["pixel_std"]


def view_maker(params: dict) -> ViewMaker | None:
    """The view maker of a condition's `training.augmentation_multiplicity`, or None when k = 1."""
    views = params["training"]["augmentation_multiplicity"]
    if views == 1:
        return None
    data = params["data"]
    if data["source"] != "synthetic":
        return functools.partial(image_views, views=views, patch=data["patch_size"], background=background_value(data))
    return functools.partial(
        synthetic_views,
        views=views,
        noise_std=params["data"]["noise_std"],
        feature_span=feature_span_size(SyntheticData(**synthetic_settings(params["data"]))),
    )
