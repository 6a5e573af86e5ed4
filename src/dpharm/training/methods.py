"""The registry of training methods (`training.method`), the one list that the config schema,
the config checks, the privacy audit, the fair DP-SGD experiments and the benchmark read.

As in Opacus's accountant registry (`opacus.accountants.create_accountant(mechanism)`), a method
is registered under its name and `create_clipping` builds one model's clipping by that name. An
entry holds what the workflow must know before training (whether the method needs each
example's group, what it releases privately) and names its clipping class as "module:Class",
imported only when a model trains: torch takes seconds to import, and the Snakefile reads this
registry at every start. `dpharm.training.fair` implements the built-in methods.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Iterable

BASELINE_METHOD = "dp-sgd"  # plain DP-SGD: every other method is compared with it
FAIR_CLAIM = "fair"  # the claim of the experiments that compare the methods (beyond the paper)
FAIR = "dpharm.training.fair"


@dataclass(frozen=True)
class TrainingMethod:
    """One training method. `clipping` is "module:Class", a `dpharm.training.fair.Clipping`;
    `step_statistic_sensitivity` is that of the statistic it releases at every step (0: none);
    `releases_group_counts` marks one release of the group sizes before training."""

    name: str
    clipping: str
    summary: str
    needs_groups: bool = False
    step_statistic_sensitivity: float = 0.0
    releases_group_counts: bool = False

    def clipping_class(self) -> type:
        module, name = self.clipping.split(":")
        return getattr(importlib.import_module(module), name)


TRAINING_METHODS: dict[str, TrainingMethod] = {}


def register_method(method: TrainingMethod) -> TrainingMethod:
    """Add a training method (a name is registered once)."""
    if method.name in TRAINING_METHODS:
        raise ValueError(f"training method {method.name!r} is registered twice")
    TRAINING_METHODS[method.name] = method
    return method


def method_names() -> list[str]:
    """Every registered method, in registration order (DP-SGD first)."""
    return list(TRAINING_METHODS)


def training_method(name: str) -> TrainingMethod:
    """The registered method `name`; ValueError naming the allowed ones otherwise."""
    if name not in TRAINING_METHODS:
        raise ValueError(f"unknown training method {name!r} (allowed: {method_names()})")
    return TRAINING_METHODS[name]


def create_clipping(name: str, *args, **kwargs):
    """One model's clipping under the method `name` (arguments as `dpharm.training.fair.Clipping`)."""
    return training_method(name).clipping_class()(*args, **kwargs)


register_method(TrainingMethod(BASELINE_METHOD, f"{FAIR}:Clipping", "DP-SGD: every gradient clipped at C"))
register_method(TrainingMethod(
    "adaptive-clipping", f"{FAIR}:AdaptiveClipping",
    "C_t follows a quantile of the gradient norms (Andrew et al. 2021)", step_statistic_sensitivity=0.5,
))  # fmt: skip
register_method(TrainingMethod(
    "bounded-adaptive-clipping", f"{FAIR}:BoundedAdaptiveClipping",
    "adaptive clipping never below min_clip_norm (arXiv 2506.01396)", step_statistic_sensitivity=0.5,
))  # fmt: skip
register_method(TrainingMethod(
    "dpsgd-global-adapt", f"{FAIR}:GlobalAdaptClipping",
    "gradients under a quantile threshold keep their direction and relative size (Esipova et al. 2023)",
    step_statistic_sensitivity=0.5,
))  # fmt: skip
register_method(TrainingMethod(
    "dpsgd-f", f"{FAIR}:GroupClipping", "group-wise clipping bounds from the private clipped shares (Xu, Du & Wu 2021)",
    needs_groups=True, step_statistic_sensitivity=1.0,
))  # fmt: skip
register_method(TrainingMethod(
    "fnr-balanced", f"{FAIR}:FnrBalancedClipping", "post-clip group weights from privately released group counts",
    needs_groups=True, releases_group_counts=True,
))  # fmt: skip


def method_errors(name: str, base: dict, swept: dict) -> Iterable[str]:
    """A method other than DP-SGD needs the fast path; a method by subpopulation needs data with a tail."""

    def values(key):
        section, field = key.split(".", 1)
        return swept.get(key, [base[section][field]])

    methods = [m for m in values("training.method") if m != BASELINE_METHOD]
    modes = [m for m in values("training.grad_sample_mode") if m != "fast"]
    if methods and modes:
        yield (
            f"config key 'experiments.{name}.training.method': {methods} need grad_sample_mode fast, got {modes} "
            "(the methods change the clipping of dpharm.training.stacked)"
        )
    grouped = [m for m in methods if m in TRAINING_METHODS and TRAINING_METHODS[m].needs_groups]
    tails = values("data.tail_frequency") + [t is not None for t in values("data.tail_source")]
    if grouped and "subpopulation" in values("training.groups") and not any(tails):
        yield (
            f"config key 'experiments.{name}.training.groups': subpopulation groups for {grouped}, but the data has "
            "one subpopulation per class (set data.tail_frequency or data.tail_source, or use groups: class)"
        )
