"""The types every trainer shares: a model to train and the augmentation hook.

Both training paths (`dpharm.training.stacked`, the batched closed-form one, and Opacus's own
`make_private` in `dpharm.training.opacus_training`) and every caller (workflow jobs, the privacy audit, the
benchmark) exchange these, so they live apart from either implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from dpharm.training.model import TwoLayerPatchCNN


@dataclass
class Member:
    """One model, what it trains on, and how: DP-SGD at `noise_multiplier`, solved for the
    budget `epsilon`, or plain SGD when `noise_multiplier` is None."""

    model: TwoLayerPatchCNN
    x: torch.Tensor  # (n, patches, d)
    y: torch.Tensor
    seed: int
    signal_patch: torch.Tensor | None = None  # needed by view makers
    noise_multiplier: float | None = None
    epsilon: float = math.inf
    groups: torch.Tensor | None = None  # each example's group, for the group methods (dpharm.training.fair)
    num_groups: int = 0

    @property
    def private(self) -> bool:
        """DP-SGD whenever a noise multiplier is set, even 0 (the audit's no-noise control still clips)."""
        return self.noise_multiplier is not None


# (x batch, signal positions, generator) -> (batch, views, patches, d); see dpharm.training.augment
ViewMaker = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]
