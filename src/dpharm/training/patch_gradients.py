"""Closed-form per-example gradients of the patch-wise first layer, registered with Opacus.

The layer's per-example gradient is G_i = sum_t g_it a_it^T (g: the gradient at its output, a:
its input patches), so ||G_i||^2 = sum_{t,s} <g_it, g_is> <a_it, a_is> needs only two T x T
Gram matrices. `dpharm.training.stacked` uses the norms directly; Opacus's hooks and ghost modes find
them through its sampler registries (it looks samplers up by the layer's exact type,
`PatchFilters`), so importing this module is what makes them use the closed forms.
"""

from __future__ import annotations

import torch
from opacus.grad_sample import register_grad_sampler, register_norm_sampler

from dpharm.training.model import PatchFilters

# Opacus's clipping factor, min(1, C / (norm + 1e-6)), so that both paths clip identically.
NORM_EPSILON = 1e-6


def gram(tensor: torch.Tensor) -> torch.Tensor:
    """(..., T, k) -> (..., T, T) inner products between the T rows."""
    return tensor @ tensor.transpose(-1, -2)


def per_example_gradient_norms(
    activations: torch.Tensor, backprops: torch.Tensor, input_gram: torch.Tensor | None = None
) -> torch.Tensor:
    """Norms of the per-example weight gradients of a patch-wise linear layer.

    activations (..., T, d), backprops (..., T, K) -> (...), without forming any (K, d) gradient.
    `input_gram`, gram(activations), may be given when known (it depends on the data only).
    """
    input_gram = gram(activations) if input_gram is None else input_gram
    return (input_gram * gram(backprops)).sum(dim=(-1, -2)).clamp(min=0).sqrt()


def clip_factors(norms: torch.Tensor, clip_norm: float) -> torch.Tensor:
    """Per-example scale min(1, C / (norm + NORM_EPSILON)), Opacus's own, in the shape of `norms`."""
    return (clip_norm / (norms + NORM_EPSILON)).clamp(max=1.0)


@register_grad_sampler(PatchFilters)
def _patch_grad_sampler(layer: PatchFilters, activations: list[torch.Tensor], backprops: torch.Tensor) -> dict:
    """Opacus hooks mode: per-example gradients (materialised, as that mode requires)."""
    return {layer.weight: torch.einsum("btk,btd->bkd", backprops, activations[0])}


@register_norm_sampler(PatchFilters)
def _patch_norm_sampler(layer: PatchFilters, activations: list[torch.Tensor], backprops: torch.Tensor) -> dict:
    """Opacus ghost mode: per-example gradient norms from the closed form."""
    return {layer.weight: per_example_gradient_norms(activations[0], backprops)}
