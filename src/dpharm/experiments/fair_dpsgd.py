"""Beyond the paper: fair DP-SGD variants (`dpharm.training.fair`) head to head on the paper's model.

One experiment per data source (synthetic, Fashion-MNIST), each with a class-imbalance design
(C2, groups: classes) and a long-tail design (C3, groups: each class's head and tail). Every
method trains on the same seeds, data and initialisations (the seed sets them, not the method),
so every comparison with dp-sgd is paired. Per method and design one test: does it reduce the
disparity, the largest minus the smallest group's accuracy drop under DP, against dp-sgd at
equal epsilon? Its note gives the overall accuracy it costs against dp-sgd.
"""

from __future__ import annotations

import pandas as pd

from dpharm.claims.effects import (
    POINTS,
    accuracy_drop,
    has_room,
    needed_accuracy,
    nonprivate_accuracy,
    over_epsilons,
    per_seed,
    sweep_rows,
    values_of,
)
from dpharm.claims.rules import ABOVE, ClaimTest, Context, Estimate, NotTestable, combine, interval
from dpharm.data.groups import ALL, classes
from dpharm.experiments.registry import ANY_SWEEP, Experiment, register, register_claim
from dpharm.training.methods import BASELINE_METHOD, FAIR_CLAIM, method_names

BASELINE = BASELINE_METHOD
DESIGNS = {"imbalance": "class imbalance (C2)", "long_tail": "long tail (C3)"}
GUARDRAIL = "_overall"  # a primary test's name plus this names its guardrail
PRIMARY_TESTS: dict[str, tuple[str, str]] = {}  # primary test name -> (method, design), filled by _tests
FIGURES = "dpharm.experiments.fair_dpsgd_figures"

register_claim(FAIR_CLAIM, "beyond the paper: each fair DP-SGD variant raises the worst group's accuracy over DP-SGD "
                           "at equal epsilon without costing more than 2 points overall (tests per method and "
                           "design)")  # fmt: skip


def compared_groups(table: pd.DataFrame) -> list[str]:
    """The groups a design compares: each class's subpopulations when the table has them, else
    the classes."""
    names = set(table["group"].unique())
    subpopulations = sorted(name for name in names if "/" in name)
    return subpopulations or classes(names)


def disparity(table: pd.DataFrame, method: str, epsilon: float) -> pd.Series:
    """Largest minus smallest group accuracy drop (points) of `method` at `epsilon`, per seed."""
    drops = pd.concat([accuracy_drop(table, g, epsilon, method=method) for g in compared_groups(table)], axis=1)
    return drops.max(axis=1) - drops.min(axis=1)


def _check_testable(rows: pd.DataFrame, context: Context) -> None:
    for group in compared_groups(rows):
        if not has_room(rows, group, context, method=BASELINE):
            accuracy = nonprivate_accuracy(rows, group, method=BASELINE)
            raise NotTestable(f"{group} is at {accuracy:.3f} without DP, below {needed_accuracy(rows, context):.3f} "
                              "(chance + room_above_chance x the threshold)")  # fmt: skip


def _versus_baseline(method: str, design: str, context: Context, table: pd.DataFrame, statistic) -> pd.Series:
    """`statistic(rows, method, epsilon)` of `method` minus DP-SGD's, per seed, by the epsilon rule."""
    rows = sweep_rows(table, design)
    if method not in values_of(rows, "method", at_least=1):
        raise ValueError(f"the {design} sweep has no runs of {method}")
    _check_testable(rows, context)
    return over_epsilons(rows, context, lambda e: statistic(rows, method, e) - statistic(rows, BASELINE, e))


def worst_group_accuracy(table: pd.DataFrame, method: str, epsilon: float) -> pd.Series:
    """Points of test accuracy of the worst compared group, per seed."""
    groups = [per_seed(table, "test_accuracy", g, epsilon=epsilon, method=method) for g in compared_groups(table)]
    return POINTS * pd.concat(groups, axis=1).min(axis=1)


def overall_accuracy(table: pd.DataFrame, method: str, epsilon: float) -> pd.Series:
    return POINTS * per_seed(table, "test_accuracy", ALL, epsilon=epsilon, method=method)


def worst_group_gain(method: str, design: str):
    """The primary effect: the worst group's accuracy under `method` minus under DP-SGD (points,
    positive: the worst-off group is better off, not the others levelled down); its note, the
    reduction of the disparity of accuracy drops."""

    def effect(table: pd.DataFrame, context: Context) -> Estimate:
        gain = _versus_baseline(method, design, context, table, worst_group_accuracy)
        reduction = -_versus_baseline(method, design, context, table, lambda r, m, e: disparity(r, m, e))
        mean, low, high = interval(gain, context.confidence)
        note = f"disparity of drops {reduction.mean() + 0.0:+.2f} points removed against dp-sgd"
        return Estimate(mean, low, high, int(gain.notna().sum()), note=note)

    return effect


def overall_change(method: str, design: str):
    """The guardrail: overall test accuracy under `method` minus under DP-SGD (points)."""

    def effect(table: pd.DataFrame, context: Context) -> pd.Series:
        return _versus_baseline(method, design, context, table, overall_accuracy)

    return effect


def _tests(designs: tuple[str, ...]) -> tuple[ClaimTest, ...]:
    """Per method and design: the worst group's gain (primary) and the overall-accuracy guardrail
    (its interval must lie above the threshold, a loss of at most 2 points); a method is judged
    reproduced on a design only when both are."""
    tests = []
    for design, label in ((d, DESIGNS[d]) for d in designs):
        for method in method_names():
            if method == BASELINE:
                continue
            key = f"{method.replace('-', '_')}_{design}"
            PRIMARY_TESTS[key] = (method, design)
            tests += [
                ClaimTest(key, f"{method} raises the worst group's accuracy over DP-SGD ({label})",
                          "points: worst compared group's test accuracy, the method's minus dp-sgd's",
                          worst_group_gain(method, design)),
                ClaimTest(f"{key}{GUARDRAIL}", f"{method} keeps the overall accuracy of DP-SGD ({label})",
                          "points: overall test accuracy, the method's minus dp-sgd's (above the threshold)",
                          overall_change(method, design), rule=ABOVE),
            ]  # fmt: skip
    return tuple(tests)


def method_verdicts(tests: pd.DataFrame) -> pd.DataFrame:
    """One verdict per dataset, design and method from rows of claim_tests.csv: reproduced only
    when the worst group's gain and the overall guardrail both are (`combine`), with both effects."""
    fair = tests[tests["claim"] == FAIR_CLAIM].set_index(["experiment", "test"])
    rows = []
    for (experiment, name), primary in fair.iterrows():
        if name not in PRIMARY_TESTS:
            continue
        guardrail = fair.loc[(experiment, name + GUARDRAIL)]
        method, design = PRIMARY_TESTS[name]
        rows.append({
            "dataset": primary["dataset"], "design": DESIGNS[design], "method": method,
            "verdict": combine([primary["verdict"], guardrail["verdict"]]),
            "gain": primary["effect"], "gain_low": primary["ci_low"], "gain_high": primary["ci_high"],
            "overall": guardrail["effect"], "overall_low": guardrail["ci_low"], "overall_high": guardrail["ci_high"],
            "n_seeds": primary["n_seeds"],
        })  # fmt: skip
    return pd.DataFrame(rows)


SHOWN = frozenset({"training.method", "training.groups", "data.imbalance_ratio", "data.n_train",
                   "data.tail_frequency", "data.tail_feature_norm", "data.minority_fraction"})  # fmt: skip

register(Experiment(
    name="fair_dpsgd", claim=FAIR_CLAIM, figure=f"{FIGURES}:fair_dpsgd",
    caption=("Beyond the paper, synthetic model. Fair DP-SGD variants against DP-SGD at equal epsilon: worst-group "
             "test accuracy, the disparity (largest minus smallest group accuracy drop under DP) and each group's "
             "FNR, per method; top: class imbalance 9:1 (groups: classes), bottom: a rare, weak tail in every class "
             "(groups: head and tail)."),
    tests=_tests(("imbalance", "long_tail")),
    shown_keys={ANY_SWEEP: SHOWN},
    verdict_lines=f"{FIGURES}:verdicts_per_design",
))  # fmt: skip

register(Experiment(
    name="fashion_fair_dpsgd_long_tail", claim=FAIR_CLAIM, figure=f"{FIGURES}:fair_dpsgd",
    caption=("Beyond the paper, Fashion-MNIST. Fair DP-SGD variants against DP-SGD at equal epsilon, on the design "
             "of the Fashion-MNIST C3 experiment: class 0 is footwear, Sneaker with a 5% Sandal tail (groups: each "
             "class, with class 0's head and tail apart)."),
    tests=_tests(("long_tail",)),
    shown_keys={ANY_SWEEP: SHOWN},
    verdict_lines=f"{FIGURES}:verdicts_per_design",
))  # fmt: skip

register(Experiment(
    name="fashion_fair_dpsgd", claim=FAIR_CLAIM, figure=f"{FIGURES}:fair_dpsgd",
    caption=("Beyond the paper, Fashion-MNIST. Fair DP-SGD variants against DP-SGD at equal epsilon, on the designs "
             "of the Fashion-MNIST C2 experiment, Bag kept at 3% of its images (groups: the ten classes)."),
    tests=_tests(("imbalance",)),
    shown_keys={ANY_SWEEP: SHOWN},
    verdict_lines=f"{FIGURES}:verdicts_per_design",
))  # fmt: skip
