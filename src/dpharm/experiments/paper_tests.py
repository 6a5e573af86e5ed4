"""The paper's claim tests: one effect function per test, each from its experiment's table alone.

Every effect is oriented so that a positive value is what the claim predicts, averaged over the
finite epsilons by the config's rule (`dpharm.claims.effects.over_epsilons`), and in accuracy points
where it compares utility (the same comparison in nats is the test's secondary effect).
Disparity tests first check their precondition: the group that should lose more must keep the
testable accuracy without DP at the tested setting, or the test is `not testable`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from dpharm.claims.effects import (
    POINTS,
    accuracy_drop,
    loss_rise,
    nonprivate_accuracy,
    over_epsilons,
    per_seed,
    sweep_rows,
    table_classes,
    testable_value,
    values_of,
)
from dpharm.claims.rules import Context, Estimate, NotTestable
from dpharm.data.groups import ALL, head, tail

# --- C1 -----------------------------------------------------------------------------------


def _harm_over_norms(measure):
    """An effect: the DP harm (`measure`), averaged over every feature norm and finite epsilon."""

    def effect(table: pd.DataFrame, context: Context) -> pd.Series:
        rows = sweep_rows(table, "feature_norm")
        norms = values_of(rows, "feature_norm")
        return over_epsilons(rows, context, lambda e: sum(measure(rows, ALL, e, feature_norm=n) for n in norms)
                             / len(norms))  # fmt: skip

    return effect


noise = _harm_over_norms(accuracy_drop)  # accuracy points DP costs
noise_in_nats = _harm_over_norms(loss_rise)  # the same in nats of test loss (its secondary effect)


def noise_lowers_fnr(table: pd.DataFrame, context: Context) -> pd.Series:
    """The share of the non-private FNR that DP removes, 1 - FNR_DP / FNR_non-private, averaged over
    the classes, feature norms and finite epsilons."""
    rows = sweep_rows(table, "feature_norm")
    pairs = [(g, n) for g in table_classes(rows) for n in values_of(rows, "feature_norm")]

    def fall(group: str, norm: float, eps: float) -> pd.Series:
        private = per_seed(rows, "fnr_measured", group, feature_norm=norm, epsilon=eps)
        return 1 - private / per_seed(rows, "fnr_measured", group, feature_norm=norm, epsilon=math.inf)

    def at(eps: float) -> pd.Series:
        return sum(fall(g, n, eps) for g, n in pairs) / len(pairs)

    return over_epsilons(rows, context, at)


def _end_difference(sweep: str, column: str, worse_end: str, measure=accuracy_drop):
    """An effect: the DP harm at the end of `column` the claim calls worse minus at the other end."""

    def effect(table: pd.DataFrame, context: Context) -> pd.Series:
        rows = sweep_rows(table, sweep)
        low, high = values_of(rows, column)[0], values_of(rows, column)[-1]
        worse, better = (low, high) if worse_end == "min" else (high, low)
        return over_epsilons(rows, context, lambda e: measure(rows, ALL, e, **{column: worse})
                             - measure(rows, ALL, e, **{column: better}))  # fmt: skip

    return effect


def _pooled_dp_rows(table: pd.DataFrame, positive: bool = False) -> pd.DataFrame:
    """Every private group row of the pooled table (with a positive FNR, for a log scale)."""
    rows = table[np.isfinite(table["epsilon"]) & ((table["fnr_measured"] > 0) | (not positive))]
    if rows.empty:
        raise ValueError("no private group rows" + (" with a positive FNR" if positive else ""))
    return rows


def _bootstrap(rows: pd.DataFrame, statistic, context: Context) -> Estimate:
    """The statistic on the pooled rows, with a percentile interval from resampling whole seeds."""
    seeds = np.sort(rows["seed"].unique())
    if len(seeds) < 3:  # resampling one or two seeds says nothing about the spread
        return Estimate(float(statistic(rows)), math.nan, math.nan, len(seeds))
    by_seed = {seed: rows[rows["seed"] == seed] for seed in seeds}
    rng = np.random.default_rng(0)
    draws = [statistic(pd.concat([by_seed[s] for s in rng.choice(seeds, len(seeds))]))
             for _ in range(context.bootstrap)]  # fmt: skip
    alpha = (1 - context.confidence) / 2
    low, high = np.nanquantile(draws, [alpha, 1 - alpha])
    return Estimate(float(statistic(rows)), float(low), float(high), len(seeds))


def governed_by_fnr(table: pd.DataFrame, context: Context) -> Estimate:
    """Spearman correlation of test accuracy with the measured FNR over every private group row;
    the note reports how well the probit law accuracy = Phi(FNR) fits."""
    rows = _pooled_dp_rows(table)
    estimate = _bootstrap(rows, lambda r: stats.spearmanr(r["fnr_measured"], r["test_accuracy"]).statistic, context)
    fit = float(np.sqrt(np.mean((stats.norm.cdf(rows["fnr_measured"]) - rows["test_accuracy"]) ** 2)))
    return Estimate(estimate.mean, estimate.low, estimate.high, estimate.n_seeds,
                    f"{len(rows)} rows; probit accuracy = Phi(FNR): RMS error {POINTS * fit:.2g} points")  # fmt: skip


def _transition_width(rows: pd.DataFrame) -> float:
    """Decades of FNR over which a fitted probit curve accuracy = 1/2 + Phi((log10 FNR - a) / b) / 2
    rises from 55% to 95%."""

    def curve(z, a, b):
        return 0.5 + 0.5 * special.ndtr((z - a) / b)  # norm.cdf without its argument checks: ~10x faster

    z = np.log10(rows["fnr_measured"].to_numpy())
    try:
        (_, b), _ = optimize.curve_fit(curve, z, rows["test_accuracy"].to_numpy(), p0=(0.0, 0.5), maxfev=5000)
    except RuntimeError:
        return math.nan
    return float(2 * stats.norm.ppf(0.9) * abs(b))


def transition(table: pd.DataFrame, context: Context) -> Estimate:
    """How many decades of FNR the accuracy needs to go from chance (55%) to 95%."""
    rows = _pooled_dp_rows(table, positive=True)
    if len(table_classes(table)) != 2:
        raise NotTestable("the probit curve assumes two classes (chance at 50%)")
    return _bootstrap(rows, _transition_width, context)


# --- C2, C3 (synthetic) --------------------------------------------------------------------


def _gap(rows: pd.DataFrame, context: Context, worse: str, better: str, **where) -> pd.Series:
    """Points `worse` loses under DP beyond what `better` loses."""
    return over_epsilons(rows, context, lambda e: accuracy_drop(rows, worse, e, **where)
                         - accuracy_drop(rows, better, e, **where))  # fmt: skip


def minority(table: pd.DataFrame, context: Context) -> pd.Series:
    """At the largest imbalance: minority (last class) drop minus majority drop."""
    classes = table_classes(table)
    rho = values_of(table, "imbalance_ratio", at_least=1)[-1]
    testable_value(table, "imbalance_ratio", classes[-1], context, [rho])
    return _gap(table, context, classes[-1], classes[0], imbalance_ratio=rho)


def _tail_gap(sweep: str, column: str):
    """At the rarest / weakest tail that stays testable: tail drop minus head drop."""

    def effect(table: pd.DataFrame, context: Context) -> pd.Series:
        rows = sweep_rows(table, sweep)
        value = testable_value(rows, column, tail(), context, values_of(rows, column, at_least=1))
        return _gap(rows, context, tail(), head(), **{column: value})

    return effect


# --- C4 -----------------------------------------------------------------------------------


def off_floor_radius(table: pd.DataFrame, suffix: str) -> float:
    """The attack budget where the non-private model keeps about half its clean accuracy under
    attack (nearest, mean over seeds): chosen from the non-private runs alone, so the test sits
    neither at the floor (everything broken) nor at no attack at all."""
    metric = f"adversarial_accuracy{suffix}"
    radii = sorted(r for r in table.loc[table["metric"] == metric, "attack_radius"].unique() if r > 0)
    if not radii:
        raise ValueError(f"no {metric} rows with a positive budget")
    half = nonprivate_accuracy(table, ALL) / 2
    attacked = {r: float(per_seed(table, metric, ALL, r, epsilon=math.inf).mean()) for r in radii}
    return min(radii, key=lambda r: abs(attacked[r] - half))


def _adversarial(suffix: str, nats: bool = False):
    """At the off-floor budget: what DP costs under the attack beyond what it costs on clean data,
    in accuracy points or in nats of loss."""

    def effect(table: pd.DataFrame, context: Context) -> pd.Series:
        metric = f"adversarial_{'loss' if nats else 'accuracy'}{suffix}"
        radius = off_floor_radius(table, suffix)

        def at(eps: float) -> pd.Series:
            attacked = per_seed(table, metric, ALL, radius, epsilon=eps) - per_seed(
                table, metric, ALL, radius, epsilon=math.inf
            )
            if nats:
                return attacked - loss_rise(table, ALL, eps)
            return -POINTS * attacked - accuracy_drop(table, ALL, eps)

        return over_epsilons(table, context, at)

    return effect


# --- C5 -----------------------------------------------------------------------------------


def _gain(table: pd.DataFrame, context: Context, **where) -> pd.Series:
    """Accuracy points pre-training adds over training from scratch in the rows matching `where`."""
    return over_epsilons(table, context, lambda e: POINTS * (
        per_seed(table, "test_accuracy", ALL, **where, init="pretrained", epsilon=e)
        - per_seed(table, "test_accuracy", ALL, **where, init="scratch", epsilon=e)))  # fmt: skip


def shrinks(table: pd.DataFrame, context: Context) -> pd.Series:
    """Accuracy points of pre-training gain at the smallest shift minus at the largest."""
    angles = values_of(table, "shift_angle")
    return _gain(table, context, shift_angle=angles[0]) - _gain(table, context, shift_angle=angles[-1])


def no_guaranteed_gain(table: pd.DataFrame, context: Context) -> pd.Series:
    """The gain at the largest shift: the claim holds when even its upper bound is below min_effect."""
    return _gain(table, context, shift_angle=values_of(table, "shift_angle")[-1])


# Public data of another data set (sweep `other_dataset`) is the largest shift there is.
def _gain_without_shift(table: pd.DataFrame, context: Context) -> pd.Series:
    rows = sweep_rows(table, "rotation")
    return _gain(rows, context, shift_angle=values_of(rows, "shift_angle")[0])


def shrinks_to_another_dataset(table: pd.DataFrame, context: Context) -> pd.Series:
    """Gain from held-out public images of the same source minus gain from another data set."""
    return _gain_without_shift(table, context) - _gain(sweep_rows(table, "other_dataset"), context)


def no_guaranteed_gain_from_another_dataset(table: pd.DataFrame, context: Context) -> pd.Series:
    """The gain of pre-training on another data set (upper bound below min_effect: no gain to count on)."""
    return _gain(sweep_rows(table, "other_dataset"), context)


# --- C6 -----------------------------------------------------------------------------------


# Augmentation multiplicity is compared with the transform held fixed: from the smallest k that
# augments (k > 1) to the largest, so that the cost of the transform itself (k = 1 has none)
# does not enter the effect of multiplicity.
AUGMENTED = {"augmentation_multiplicity": lambda values: [v for v in values if v > 1]}


def _compared_ends(rows: pd.DataFrame, column: str) -> tuple[float, float]:
    """The smallest and largest compared value of a mitigation's setting."""
    values = AUGMENTED.get(column, list)(values_of(rows, column))
    if len(values) < 2:
        raise ValueError(f"'{column}' needs two compared values, got {values}")
    return values[0], values[-1]


def _mitigation(sweep: str, column: str, measure=accuracy_drop):
    """DP harm (`measure`) at the smallest compared setting minus at the largest: the harm removed."""

    def effect(table: pd.DataFrame, context: Context) -> pd.Series:
        rows = sweep_rows(table, sweep)
        low, high = _compared_ends(rows, column)
        return over_epsilons(rows, context, lambda e: measure(rows, ALL, e, **{column: low})
                             - measure(rows, ALL, e, **{column: high}))  # fmt: skip

    return effect


def _mitigation_fnr(sweep: str, column: str):
    """The measured FNR gained from the smallest to the largest compared setting, mean over classes:
    a difference, since an FNR may be negative under DP (no log ratio)."""

    def effect(table: pd.DataFrame, context: Context) -> pd.Series:
        rows = sweep_rows(table, sweep)
        low, high = _compared_ends(rows, column)

        def gain(group, eps):
            fnr = {v: per_seed(rows, "fnr_measured", group, **{column: v}, epsilon=eps) for v in (low, high)}
            return fnr[high] - fnr[low]

        classes = table_classes(rows)
        return over_epsilons(rows, context, lambda e: sum(gain(g, e) for g in classes) / len(classes))

    return effect


# --- real images ---------------------------------------------------------------------------


def _difference_in_differences(column: str, reduced_group, other_groups):
    """At the smallest reduced setting that stays testable: (reduced drop - others' drop) there,
    minus the same at full representation (the largest value of `column`), so a group's own
    difficulty cancels."""

    def effect(table: pd.DataFrame, context: Context) -> pd.Series:
        reduced, others = reduced_group(table), other_groups(table)
        values = values_of(table, column)
        full = values[-1]
        point = testable_value(table, column, reduced, context, values[:-1] or values)
        if point == full:
            raise NotTestable(f"no reduced {column} below {full:g} to compare with")

        def gap(value, eps):
            spared = sum(accuracy_drop(table, g, eps, **{column: value}) for g in others) / len(others)
            return accuracy_drop(table, reduced, eps, **{column: value}) - spared

        return over_epsilons(table, context, lambda e: gap(point, e) - gap(full, e))

    return effect


real_minority = _difference_in_differences(
    "minority_fraction", lambda t: table_classes(t)[-1], lambda t: table_classes(t)[:-1]
)
real_tail = _difference_in_differences("tail_frequency", lambda t: tail(), lambda t: [head()])


c1_weak_features = _end_difference("feature_norm", "feature_norm", "min")
c1_width_fixed_lr = _end_difference("width", "width", "max")
c1_width_scaled_lr = _end_difference("width_scaled_lr", "width", "max")
c1_data_size = _end_difference("n_train", "n_train", "min")
c1_data_size_nats = _end_difference("n_train", "n_train", "min", measure=loss_rise)
c3_rare_tail = _tail_gap("rare_tail", "tail_frequency")
c3_weak_tail = _tail_gap("weak_tail", "tail_feature_norm")
c4_adversarial, c4_adversarial_nats = _adversarial(""), _adversarial("", nats=True)
c4_adversarial_linf, c4_adversarial_linf_nats = _adversarial("_linf"), _adversarial("_linf", nats=True)
c6_augmentation_accuracy = _mitigation("augmentation", "augmentation_multiplicity")
c6_augmentation_nats = _mitigation("augmentation", "augmentation_multiplicity", measure=loss_rise)
c6_augmentation_fnr = _mitigation_fnr("augmentation", "augmentation_multiplicity")
c6_freezing_accuracy = _mitigation("freezing", "frozen_fraction")
c6_freezing_nats = _mitigation("freezing", "frozen_fraction", measure=loss_rise)
c6_freezing_fnr = _mitigation_fnr("freezing", "frozen_fraction")
c1_trainable_parameters = c6_freezing_accuracy  # the same statistic on the same runs (paper.py says so)
