"""Selections from a tidy experiment table that claim tests are built from.

Effects on accuracy are in points (accuracy x 100). How the finite epsilons of a grid combine is
the config's `claims.epsilons`: "mean" averages a per-seed effect over them, "smallest" takes the
strongest privacy alone.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from dpharm.claims.rules import Context, NotTestable
from dpharm.data.groups import classes

POINTS = 100.0  # accuracy points per unit of accuracy


def per_seed(table: pd.DataFrame, metric: str, group: str, radius: float | None = None, **where) -> pd.Series:
    """The metric's value per seed for the rows matching `where` (exactly one per seed)."""
    rows = table[(table["metric"] == metric) & (table["group"] == group)]
    rows = rows[rows["attack_radius"].isna()] if radius is None else rows[np.isclose(rows["attack_radius"], radius)]
    for column, value in where.items():
        rows = rows[np.isclose(rows[column], value)] if isinstance(value, float) else rows[rows[column] == value]
    if rows.empty:
        raise ValueError(f"no {metric}/{group} rows for {where}")
    if rows["seed"].duplicated().any():
        raise ValueError(f"{metric}/{group} {where}: several rows per seed; the selection is ambiguous")
    return rows.set_index("seed")["value"]


def sweep_rows(table: pd.DataFrame, sweep: str) -> pd.DataFrame:
    """The rows of one named sweep."""
    rows = table[table["sweep"] == sweep]
    if rows.empty:
        raise ValueError(f"the experiment has no sweep '{sweep}'")
    return rows


def values_of(table: pd.DataFrame, column: str, at_least: int = 2) -> list:
    """The sorted values of a swept setting; a comparison of its ends needs at least two."""
    values = sorted(table[column].dropna().unique())
    if len(values) < at_least:
        raise ValueError(f"'{column}' takes {len(values)} value(s); the test needs {at_least}")
    return [float(v) if isinstance(v, (int, float, np.number)) else v for v in values]


def finite_epsilons(table: pd.DataFrame, context: Context) -> list[float]:
    """The epsilons a test averages over, by the config's rule."""
    finite = sorted(float(e) for e in table["epsilon"].unique() if np.isfinite(e))
    if not finite:
        raise ValueError("the experiment has no private (finite epsilon) runs")
    return finite[:1] if context.epsilons == "smallest" else finite


def over_epsilons(table: pd.DataFrame, context: Context, effect_at: Callable[[float], pd.Series]) -> pd.Series:
    """A per-seed effect averaged over the finite epsilons (seeds missing any epsilon drop out)."""
    return pd.concat([effect_at(eps) for eps in finite_epsilons(table, context)], axis=1).mean(axis=1, skipna=False)


def accuracy_drop(table: pd.DataFrame, group: str, epsilon: float, **where) -> pd.Series:
    """Accuracy points lost under DP at `epsilon` against the paired non-private run, per seed."""
    return -POINTS * per_seed(table, "test_accuracy_change", group, epsilon=epsilon, **where)


def loss_rise(table: pd.DataFrame, group: str, epsilon: float, **where) -> pd.Series:
    """Nats of test loss gained under DP at `epsilon` against the paired non-private run."""
    return per_seed(table, "test_loss_change", group, epsilon=epsilon, **where)


def nonprivate_accuracy(table: pd.DataFrame, group: str, **where) -> float:
    """The group's non-private test accuracy, mean over seeds."""
    return float(per_seed(table, "test_accuracy", group, epsilon=math.inf, **where).mean())


def table_classes(table: pd.DataFrame) -> list[str]:
    """The whole-class groups of a table, in class order (from its distinct group names: reading
    a string column name by name takes seconds on a full table)."""
    return classes(table["group"].unique())


def chance_accuracy(table: pd.DataFrame) -> float:
    """Accuracy of a guess among the table's classes (1/K): the floor a group cannot lose below."""
    return 1.0 / len(table_classes(table))


def needed_accuracy(table: pd.DataFrame, context: Context) -> float:
    """The non-private accuracy a group needs for a disparity test: chance plus `room_above_chance`
    times the test's threshold, so that the predicted loss fits above the floor."""
    return chance_accuracy(table) + context.room_above_chance * context.min_effect / POINTS


def has_room(table: pd.DataFrame, group: str, context: Context, **where) -> bool:
    """Whether `group` sits far enough above chance without DP (decided from non-private runs alone)."""
    return nonprivate_accuracy(table, group, **where) >= needed_accuracy(table, context)


def testable_value(table: pd.DataFrame, column: str, group: str, context: Context, candidates: list) -> float:
    """The first of `candidates` (values of `column`) at which `group` has room above chance without
    DP (`has_room`); decided from the non-private runs alone. Raises NotTestable when none has."""
    for value in candidates:
        if has_room(table, group, context, **{column: value}):
            return value
    raise NotTestable(
        f"{group} is below {needed_accuracy(table, context):.3f} (chance + {context.room_above_chance:g} x the "
        f"threshold) without DP at every {column} in {candidates}"
    )
