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
    nonprivate_accuracy,
    over_epsilons,
    per_seed,
    sweep_rows,
    values_of,
)
from dpharm.claims.rules import ClaimTest, Context, Estimate, NotTestable, interval
from dpharm.data.groups import ALL, classes
from dpharm.experiments.registry import ANY_SWEEP, Experiment, register, register_claim
from dpharm.training.methods import BASELINE_METHOD, FAIR_CLAIM, method_names

BASELINE = BASELINE_METHOD
DESIGNS = {"imbalance": "class imbalance (C2)", "long_tail": "long tail (C3)"}
FIGURES = "dpharm.experiments.fair_dpsgd_figures"

register_claim(FAIR_CLAIM, "beyond the paper: each fair DP-SGD variant reduces the disparity of DP-SGD's accuracy "
                           "drops between groups at equal epsilon (one test per method and design)")  # fmt: skip


def compared_groups(table: pd.DataFrame) -> list[str]:
    """The groups a design compares: each class's subpopulations when the table has them, else
    the classes."""
    names = set(table["group"])
    subpopulations = sorted(name for name in names if "/" in name)
    return subpopulations or classes(names)


def disparity(table: pd.DataFrame, method: str, epsilon: float) -> pd.Series:
    """Largest minus smallest group accuracy drop (points) of `method` at `epsilon`, per seed."""
    drops = pd.concat([accuracy_drop(table, g, epsilon, method=method) for g in compared_groups(table)], axis=1)
    return drops.max(axis=1) - drops.min(axis=1)


def _check_testable(rows: pd.DataFrame, context: Context) -> None:
    for group in compared_groups(rows):
        accuracy = nonprivate_accuracy(rows, group, method=BASELINE)
        if accuracy < context.testable_accuracy:
            raise NotTestable(f"{group} is at {accuracy:.3f} without DP, below the testable accuracy")


def disparity_reduction(method: str, design: str):
    """The test effect: dp-sgd's disparity minus `method`'s (points, positive: fairer), per seed,
    averaged over the finite epsilons; its note, the overall accuracy `method` costs."""

    def effect(table: pd.DataFrame, context: Context) -> Estimate:
        rows = sweep_rows(table, design)
        if method not in values_of(rows, "method", at_least=1):
            raise ValueError(f"the {design} sweep has no runs of {method}")
        _check_testable(rows, context)
        reduction = over_epsilons(rows, context, lambda e: disparity(rows, BASELINE, e) - disparity(rows, method, e))
        change = over_epsilons(
            rows,
            context,
            lambda e: POINTS
            * (per_seed(rows, "test_accuracy", ALL, epsilon=e, method=method)
               - per_seed(rows, "test_accuracy", ALL, epsilon=e, method=BASELINE)),
        )  # fmt: skip
        mean, low, high = interval(reduction, context.confidence)
        return Estimate(mean, low, high, int(reduction.notna().sum()),
                        note=f"overall test accuracy {change.mean() + 0.0:+.2f} points against dp-sgd")  # fmt: skip

    return effect


def _tests(designs: tuple[str, ...]) -> tuple[ClaimTest, ...]:
    return tuple(
        ClaimTest(
            f"{method.replace('-', '_')}_{design}",
            f"{method} reduces the disparity of DP-SGD's accuracy drops ({label})",
            "points: dp-sgd's disparity (largest minus smallest group accuracy drop) minus the method's",
            disparity_reduction(method, design),
        )  # fmt: skip
        for design, label in ((d, DESIGNS[d]) for d in designs)
        for method in method_names()
        if method != BASELINE
    )


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
))  # fmt: skip

register(Experiment(
    name="fashion_fair_dpsgd_long_tail", claim=FAIR_CLAIM, figure=f"{FIGURES}:fair_dpsgd",
    caption=("Beyond the paper, Fashion-MNIST. Fair DP-SGD variants against DP-SGD at equal epsilon, on the design "
             "of the Fashion-MNIST C3 experiment: class 0 is footwear, Sneaker with a 5% Sandal tail (groups: each "
             "class, with class 0's head and tail apart)."),
    tests=_tests(("long_tail",)),
    shown_keys={ANY_SWEEP: SHOWN},
))  # fmt: skip

register(Experiment(
    name="fashion_fair_dpsgd", claim=FAIR_CLAIM, figure=f"{FIGURES}:fair_dpsgd",
    caption=("Beyond the paper, Fashion-MNIST. Fair DP-SGD variants against DP-SGD at equal epsilon, on the designs "
             "of the Fashion-MNIST C2 experiment, Bag kept at 3% of its images (groups: the ten classes)."),
    tests=_tests(("imbalance",)),
    shown_keys={ANY_SWEEP: SHOWN},
))  # fmt: skip
