"""Verdict rules: from each claim test's effect to a verdict, and from tests to a claim's verdict.

A test's effect is computed from its experiment's table and oriented so that a positive value
is what the claim predicts. Most tests give one effect per seed (runs with the same seed share
data and initialisation, so effects are paired) and a Student-t interval over seeds at
`claims.confidence`; pooled statistics give their own bootstrap interval (an `Estimate`). Rules:

- `effect` (the default): reproduced when the interval excludes 0 and the mean reaches
  `min_effect`; not reproduced when the whole interval lies below `min_effect`;
- `above`: reproduced when the interval lies above the threshold, not reproduced when below;
- `below`: reproduced when the interval lies below the threshold, not reproduced when above;
- anything else is inconclusive. A test whose precondition fails (`NotTestable`) is
  `not testable`; a `finding` reports an effect the claim makes no prediction for.

A claim is reproduced when all its tests (findings aside) are, not reproduced when any is not,
not testable when none is testable, and inconclusive otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from dpharm.claims.stats import mean_interval

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
NOT_TESTABLE, FINDING = "not testable", "finding"
EFFECT_RULE, ABOVE, BELOW = "effect", "above", "below"
PRIVACY_AUDIT = "privacy_audit"  # the audit's table name
BROKEN_MECHANISMS = ("no-noise", "no-clipping")  # the audit's deliberately broken controls


class NotTestable(ValueError):
    """The test's precondition fails at the setting the rule picks (e.g. a group at a floor)."""


@dataclass(frozen=True)
class Estimate:
    """A pooled statistic with its own interval (e.g. a bootstrap over seeds)."""

    mean: float
    low: float
    high: float
    n_seeds: int
    note: str = ""


@dataclass(frozen=True)
class Context:
    """What every effect function may read: the `claims` settings of the config."""

    confidence: float
    epsilons: str  # how the finite epsilons of a grid combine: "mean" or "smallest"
    room_above_chance: float  # a disparity needs this many thresholds of accuracy above chance without DP
    bootstrap: int
    min_effect: float = math.nan  # the threshold of the test being judged (set per test)


@dataclass(frozen=True)
class ClaimTest:
    """One pre-registered test. `effect(table, context)` returns a per-seed Series or an
    `Estimate`; `name` is its key in `claims.min_effect`; `secondary`, when set, gives a second
    per-seed effect reported beside the first (the same comparison in nats). Registering its
    experiment binds `experiment` and, unless the test names another claim, `claim`."""

    name: str
    statement: str
    metric: str
    effect: Callable[[pd.DataFrame, Context], pd.Series | Estimate]
    rule: str = EFFECT_RULE
    secondary: Callable[[pd.DataFrame, Context], pd.Series] | None = None
    claim: str = ""
    experiment: str = ""


def interval(effects: pd.Series, confidence: float) -> tuple[float, float, float]:
    """Mean effect over seeds and its Student-t interval (`dpharm.claims.stats.mean_interval`)."""
    return mean_interval(effects.to_numpy(dtype=float), confidence)


def verdict(mean: float, low: float, high: float, threshold: float, rule: str = EFFECT_RULE) -> str:
    """The verdict of one test under its rule (module docstring)."""
    if rule == FINDING:
        return FINDING
    if any(math.isnan(v) for v in (mean, low, high)):
        return INCONCLUSIVE
    if rule == EFFECT_RULE:
        if low > 0 and mean >= threshold:
            return REPRODUCED
        return NOT_REPRODUCED if high < threshold else INCONCLUSIVE
    if rule == ABOVE:
        return REPRODUCED if low > threshold else NOT_REPRODUCED if high < threshold else INCONCLUSIVE
    if rule == BELOW:
        return REPRODUCED if high < threshold else NOT_REPRODUCED if low > threshold else INCONCLUSIVE
    raise ValueError(f"unknown verdict rule {rule!r}")


def combine(verdicts: list[str]) -> str:
    """A claim's verdict from its tests' (findings do not count)."""
    judged = [v for v in verdicts if v != FINDING]
    if judged and all(v == REPRODUCED for v in judged):
        return REPRODUCED
    if NOT_REPRODUCED in judged:
        return NOT_REPRODUCED
    if judged and all(v == NOT_TESTABLE for v in judged):
        return NOT_TESTABLE
    return INCONCLUSIVE
