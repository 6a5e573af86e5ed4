"""Typed views of the `model`, `training` and `pretraining` config sections.

Every trainer (the workflow's jobs, the privacy audit, the benchmark) takes these objects, so a
setting has one name and one type wherever it is read.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


def _known(cls, section: dict) -> dict:
    return {f.name: section[f.name] for f in fields(cls) if f.name in section}


@dataclass(frozen=True)
class ModelSettings:
    """The two-layer CNN: m filters per class, their init std sigma_0, the frozen share."""

    width: int
    init_std: float
    frozen_fraction: float = 0.0

    @classmethod
    def from_config(cls, section: dict) -> ModelSettings:
        """From the `model` section; its keys that are not fields here are ignored."""
        return cls(**_known(cls, section))


# The update rule applied to the (privatised) gradient. For DP-SGD it acts on the noisy sum
# after clipping and noise, so it is post-processing and costs no privacy.
OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


def make_optimizer(name: str, parameters, learning_rate: float) -> torch.optim.Optimizer:
    """The optimizer `name` (sgd or adam, torch's defaults otherwise) over `parameters`."""
    return OPTIMIZERS[name](parameters, lr=learning_rate)


@dataclass(frozen=True)
class TrainingSettings:
    """How one model trains. The privacy fields (clip_norm, delta, accountant) matter only for
    a model that trains with DP-SGD; the `pretraining` section sets none of them."""

    steps: int
    learning_rate: float
    batch_size: int
    clip_norm: float | None = None
    delta: float | None = None
    accountant: str = "rdp"
    grad_sample_mode: str = "fast"
    augmentation_multiplicity: int = 1
    optimizer: str = "sgd"
    # fair DP-SGD (dpharm.training.fair): the method and what it needs
    method: str = "dp-sgd"
    groups: str = "class"
    statistics_share: float = 0.1
    target_unclipped_quantile: float = 0.5
    global_unclipped_quantile: float = 0.9
    clip_learning_rate: float = 0.2
    min_clip_norm: float | None = None

    @classmethod
    def from_config(cls, section: dict) -> TrainingSettings:
        """From the `training` or `pretraining` section (its epsilon and init are per condition)."""
        return cls(**_known(cls, section))
