"""Verdicts for the paper's claims, computed from the experiment tables.

Each claim is checked by one or more tests. A test computes a per-seed effect (runs with the
same seed share data and initialisation, so effects are paired), oriented so that a positive
effect is what the claim predicts. With a Student-t interval over seeds (`claims.confidence`,
95% by default):

- reproduced:     the interval excludes 0 and the mean effect is at least `min_effect`;
- not reproduced: the whole interval lies below `min_effect` (too small, or the other way);
- inconclusive:   anything else.

A claim is reproduced when all its tests are, not reproduced when any test is not, and
inconclusive otherwise. Tests compare at the smallest finite epsilon of the grid, chosen by
rule rather than by looking at the results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from dpharm.stats import mean_interval

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
PRIVACY_AUDIT = "privacy_audit"  # the audit's table name


@dataclass(frozen=True)
class ClaimTest:
    """One pre-registered test: the per-seed effect its function computes from the experiment's
    table, oriented so that a positive effect is what the claim predicts; `name` is also its
    key in `claims.min_effect`."""

    claim: str
    experiment: str
    name: str
    statement: str
    metric: str
    effect: Callable[[pd.DataFrame], pd.Series]  # table -> effect per seed


def interval(effects: pd.Series, confidence: float) -> tuple[float, float, float]:
    """Mean effect over seeds and its Student-t interval (`dpharm.stats.mean_interval`)."""
    return mean_interval(effects.to_numpy(dtype=float), confidence)


def verdict(mean: float, low: float, high: float, min_effect: float) -> str:
    """One test's verdict by the module docstring's rule; a NaN (e.g. fewer than two seeds) is inconclusive."""
    if any(math.isnan(v) for v in (mean, low, high)):
        return INCONCLUSIVE
    if low > 0 and mean >= min_effect:
        return REPRODUCED
    if high < min_effect:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def combine(verdicts: list[str]) -> str:
    """A claim's verdict from its tests' (module docstring); a claim without tests is inconclusive."""
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return INCONCLUSIVE


# --- selection helpers -----------------------------------------------------------------


def strongest_privacy(table: pd.DataFrame) -> float:
    """The smallest finite target epsilon of the table: where every test compares."""
    return float(table.loc[np.isfinite(table["epsilon"]), "epsilon"].min())


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


def _sweep(table: pd.DataFrame, sweep: str) -> pd.DataFrame:
    rows = table[table["sweep"] == sweep]
    if rows.empty:
        raise ValueError(f"the experiment has no sweep '{sweep}'")
    return rows


def _extreme(table: pd.DataFrame, column: str, which: str) -> float:
    """Smallest or largest value of a swept setting; a comparison needs at least two values."""
    values = table[column].dropna().unique()
    if len(values) < 2:
        raise ValueError(f"'{column}' takes a single value; the test compares its extremes")
    return float(values.min() if which == "min" else values.max())


# --- the tests ---------------------------------------------------------------------------


def _between_extremes(rows: pd.DataFrame, column: str, metric: str, group: str, worse_end: str) -> pd.Series:
    """At the smallest epsilon: the metric at the end of `column` the claim calls worse, minus the other end."""
    eps = strongest_privacy(rows)
    better_end = "max" if worse_end == "min" else "min"

    def at(end: str) -> pd.Series:
        """The metric per seed at one end ('min' or 'max') of `column`, at the smallest epsilon."""
        return per_seed(rows, metric, group, **{column: _extreme(rows, column, end)}, epsilon=eps)

    return at(worse_end) - at(better_end)


def _head_minus_tail(rows: pd.DataFrame, column: str) -> pd.Series:
    """Accuracy change of class 0's head minus its tail's (positive when the tail loses more), at the
    smallest value of `column` and epsilon."""
    where = {column: float(rows[column].min()), "epsilon": strongest_privacy(rows)}
    return per_seed(rows, "test_accuracy_change", "class0/head", **where) - per_seed(
        rows, "test_accuracy_change", "class0/tail", **where
    )


def c1_noise(table):
    """The DP change of the test loss at the weakest feature norm and the smallest epsilon."""
    rows = _sweep(table, "feature_norm")
    norm = float(rows["feature_norm"].min())
    return per_seed(rows, "test_loss_change", "all", feature_norm=norm, epsilon=strongest_privacy(rows))


def c1_weak_features(table):
    """Test loss change at the weakest feature norm minus at the strongest."""
    return _between_extremes(_sweep(table, "feature_norm"), "feature_norm", "test_loss_change", "all", "min")


def c1_width(table):
    """Test loss change at the largest width minus at the smallest."""
    return _between_extremes(_sweep(table, "width"), "width", "test_loss_change", "all", "max")


def c1_data_size(table):
    """Test loss change at the smallest n_train minus at the largest."""
    return _between_extremes(_sweep(table, "n_train"), "n_train", "test_loss_change", "all", "min")


def c2_minority(table):
    """At the largest imbalance ratio: the majority's accuracy change minus the minority's."""
    rho = float(table["imbalance_ratio"].max())
    eps = strongest_privacy(table)
    majority = per_seed(table, "test_accuracy_change", "class0", imbalance_ratio=rho, epsilon=eps)
    minority = per_seed(table, "test_accuracy_change", "class1", imbalance_ratio=rho, epsilon=eps)
    return majority - minority


def c3_tail(table):
    """`_head_minus_tail` in the rare_tail sweep, at its rarest tail."""
    return _head_minus_tail(_sweep(table, "rare_tail"), "tail_frequency")


def c3_weak_tail(table):
    """`_head_minus_tail` in the weak_tail sweep, at its weakest tail feature."""
    return _head_minus_tail(_sweep(table, "weak_tail"), "tail_feature_norm")


def _adversarial_excess(table: pd.DataFrame, metric: str) -> pd.Series:
    """At the middle budget and smallest epsilon: the DP increase of `metric` minus that of the clean loss."""
    eps = strongest_privacy(table)
    radii = sorted(r for r in table.loc[table["metric"] == metric, "attack_radius"].unique() if r > 0)
    radius = float(radii[len(radii) // 2])  # the middle budget of the grid
    adversarial = per_seed(table, metric, "all", radius, epsilon=eps) - per_seed(
        table, metric, "all", radius, epsilon=math.inf
    )
    return adversarial - per_seed(table, "test_loss_change", "all", epsilon=eps)


def c4_adversarial(table):
    """`_adversarial_excess` of the PGD-l2 loss (synthetic and image experiments)."""
    return _adversarial_excess(table, "adversarial_loss")


def c5_shift(table):
    """Pre-training's accuracy gain over scratch at the smallest shift angle minus at the largest."""
    eps = strongest_privacy(table)

    def gain(theta):
        """Pre-trained minus scratch test accuracy per seed at shift `theta` and the smallest epsilon."""
        pre = per_seed(table, "test_accuracy", "all", shift_angle=theta, init="pretrained", epsilon=eps)
        scratch = per_seed(table, "test_accuracy", "all", shift_angle=theta, init="scratch", epsilon=eps)
        return pre - scratch

    return gain(_extreme(table, "shift_angle", "min")) - gain(_extreme(table, "shift_angle", "max"))


def _mitigation(table, sweep, column, metric):
    """Test loss falls (loss at the min end minus the max end) or the FNR rises (log ratio, max over min)."""
    rows = _sweep(table, sweep)
    if metric == "test_loss":
        return _between_extremes(rows, column, "test_loss", "all", "min")
    low_over_high = _between_extremes(
        rows.assign(value=np.log(rows["value"].where(rows["value"] > 0))), column, "fnr_measured", "class0", "min"
    )
    return -low_over_high


def real_minority(table):
    """At the smallest minority fraction: the other classes' mean accuracy change minus the reduced
    (last) class's."""
    fraction = float(table["minority_fraction"].min())
    eps = strongest_privacy(table)
    groups = sorted(
        (g for g in table["group"].unique() if g.startswith("class") and "/" not in g),
        key=lambda g: int(g.removeprefix("class")),
    )
    minority, majority = groups[-1], groups[:-1]  # the reduced class is the last one
    changes = {g: per_seed(table, "test_accuracy_change", g, minority_fraction=fraction, epsilon=eps) for g in groups}
    return sum(changes[g] for g in majority) / len(majority) - changes[minority]


def real_tail(table):
    """`_head_minus_tail` over the whole table (the image experiment's sweeps may have any name)."""
    return _head_minus_tail(table, "tail_frequency")


def c4_adversarial_linf(table):
    """`_adversarial_excess` of the PGD-linf loss (image experiments)."""
    return _adversarial_excess(table, "adversarial_loss_linf")


def augmentation_loss(table):
    """Test loss at the smallest augmentation multiplicity minus at the largest."""
    return _mitigation(table, "augmentation", "augmentation_multiplicity", "test_loss")


def augmentation_fnr(table):
    """log of class 0's measured FNR at the largest augmentation multiplicity over at the smallest."""
    return _mitigation(table, "augmentation", "augmentation_multiplicity", "fnr_measured")


def freezing_loss(table):
    """Test loss at the smallest frozen fraction minus at the largest."""
    return _mitigation(table, "freezing", "frozen_fraction", "test_loss")


def freezing_fnr(table):
    """log of class 0's measured FNR at the largest frozen fraction over at the smallest."""
    return _mitigation(table, "freezing", "frozen_fraction", "fnr_measured")


def run_tests(tables: dict[str, pd.DataFrame], min_effect: dict[str, float], confidence: float) -> pd.DataFrame:
    """One row per registered test whose experiment has a table: effect, interval and verdict."""
    from dpharm.experiments import claim_tests

    rows = []
    for test in claim_tests():
        if test.experiment not in tables:
            continue
        table = tables[test.experiment]
        try:
            effects = test.effect(table)
            note = ""
        except (KeyError, ValueError) as err:  # the experiment lacks the sweep this test needs
            effects, note = pd.Series(dtype=float), f"cannot compute: {err}"
        mean, low, high = interval(effects, confidence)
        threshold = min_effect[test.name]
        rows.append(
            {
                "claim": test.claim,
                "experiment": test.experiment,
                "dataset": table["dataset"].iloc[0],
                "test": test.name,
                "statement": test.statement,
                "metric": test.metric,
                "effect": mean,
                "ci_low": low,
                "ci_high": high,
                "n_seeds": int(effects.notna().sum()),
                "min_effect": threshold,
                "verdict": verdict(mean, low, high, threshold),
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def audit_tests(audit: pd.DataFrame, min_power: float) -> pd.DataFrame:
    """Rows like `run_tests`' for the privacy audit: sound for DP-SGD, powerful on broken controls.

    The lower bounds already hold with the audit's confidence, so the verdict compares them
    directly: DP-SGD's bound must not exceed the accountant's epsilon, and each control's
    bound must exceed the epsilon it claims by at least `min_power`.
    """
    rows = []
    for row in audit.itertuples():
        sound = row.mechanism == "dp-sgd"
        effect = (
            row.epsilon_accountant - row.epsilon_lower_bound
            if sound
            else row.epsilon_lower_bound - row.epsilon_accountant
        )
        threshold = 0.0 if sound else min_power
        rows.append(
            {
                "claim": "privacy",
                "experiment": "privacy_audit",
                "dataset": "synthetic",
                "test": f"audit_{row.mechanism}",
                "statement": (
                    "the empirical lower bound does not exceed the accountant's epsilon"
                    if sound
                    else f"the audit catches the broken '{row.mechanism}' mechanism"
                ),
                "metric": "accountant epsilon - lower bound" if sound else "lower bound - claimed epsilon",
                "effect": effect,
                "ci_low": math.nan,
                "ci_high": math.nan,
                "n_seeds": 1,
                "min_effect": threshold,
                "verdict": REPRODUCED if effect >= threshold else NOT_REPRODUCED,
                "note": f"bound at {row.confidence:.0%} confidence over {row.n_trials} trainings",
            }
        )
    return pd.DataFrame(rows)


def judge(tables: dict[str, pd.DataFrame], settings: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every test, every claim) from the tables by name; the audit's table adds its own tests."""
    tables = dict(tables)
    audit = tables.pop(PRIVACY_AUDIT, None)
    tests = run_tests(tables, settings["min_effect"], settings["confidence"])
    if audit is not None:
        tests = pd.concat([tests, audit_tests(audit, settings["min_effect"]["audit_power"])], ignore_index=True)
    return tests, summarise(tests, CLAIM_STATEMENTS)


def summarise(tests: pd.DataFrame, statements: dict[str, str]) -> pd.DataFrame:
    """One row per claim and dataset; effect and interval of its first (primary) test."""
    rows = []
    for (claim, dataset), group in tests.groupby(["claim", "dataset"], sort=False):
        primary = group.iloc[0]
        rows.append(
            {
                "claim": claim,
                "experiment": primary["experiment"],
                "dataset": dataset,
                "statement": statements[claim],
                "metric": f"{primary['test']}: {primary['metric']}",
                "effect": primary["effect"],
                "ci_low": primary["ci_low"],
                "ci_high": primary["ci_high"],
                "n_seeds": primary["n_seeds"],
                "verdict": combine(list(group["verdict"])),
            }
        )
    return pd.DataFrame(rows)


def render_markdown(claims: pd.DataFrame, tests: pd.DataFrame, confidence: float) -> str:
    """results/claims.md: the claim verdicts, then every test's effect, interval and threshold."""
    lines = [
        "# Claims: verdicts computed from results/tables/",
        "",
        f"Effects are means over seeds with {confidence:.0%} Student-t intervals; a positive "
        "effect is what the claim predicts. Rules: `src/dpharm/claims.py`; thresholds: "
        "`claims.min_effect` in the config.",
        "",
        "| claim | dataset | statement | verdict |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r.claim} | {r.dataset} | {r.statement} | **{r.verdict}** |" for r in claims.itertuples()]
    lines += [
        "",
        "## Tests",
        "",
        f"| claim | test | what is compared | effect | {confidence:.0%} CI | min effect | seeds | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.claim} | {r.test} | {r.statement} | {r.effect:.4g} | "
        f"{'-' if math.isnan(r.ci_low) else f'[{r.ci_low:.4g}, {r.ci_high:.4g}]'} "
        f"| {r.min_effect:g} | {r.n_seeds} | {r.verdict}{' (' + r.note + ')' if r.note else ''} |"
        for r in tests.itertuples()
    ]
    return "\n".join(lines) + "\n"


CLAIM_STATEMENTS = {
    "C1": "DP-SGD noise lowers the FNR and raises the test loss; larger models and less data make it worse",
    "C2": "imbalanced FNRs cause disparate impact: the minority class loses much more accuracy under DP",
    "C3": "within a class, DP noise hurts the long-tailed (rare or weak-feature) subpopulation more than the head",
    "C4": "DP noise increases adversarial vulnerability faster than it raises the standard test loss",
    "C5": "public pre-training does not guarantee improvement: the gain shrinks as the feature shift grows",
    "C6": "augmentation multiplicity and freezing raise the FNR and reduce the harm",
    "privacy": "no empirical audit beats the accountant's epsilon, and the audit detects broken DP-SGD",
}
