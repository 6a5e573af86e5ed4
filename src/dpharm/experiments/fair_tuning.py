"""Beyond the paper: one learning-rate budget for every fair DP-SGD method, DP-SGD included.

`fair_dpsgd_tuning` trains every method at the same learning rates, on the synthetic model at
tuning seeds that no confirmatory run uses (config/fair_dpsgd_tuning.yaml), at the strongest
privacy the comparison judges. `chosen_learning_rates` then picks, per design and method, the
rate with the highest mean worst-group test accuracy over the tuning seeds: the comparison's
primary statistic, so no method (and not the baseline) is left at a rate tuned for another.
Ties go to the smaller rate. config.yaml's `fair_dpsgd` pairs each method with its chosen rate;
`python -m dpharm.tools.tune_fair` prints the choice and checks a config against it.
"""

from __future__ import annotations

import pandas as pd

from dpharm.claims.effects import POINTS
from dpharm.data.groups import ALL
from dpharm.experiments.fair_dpsgd import FIGURES, SHOWN, compared_groups
from dpharm.experiments.registry import ANY_SWEEP, Experiment, register
from dpharm.training.methods import FAIR_CLAIM

LEARNING_RATE = "learning_rate"
RUN = ["sweep", "method", LEARNING_RATE, "seed"]


def tuning_runs(table: pd.DataFrame) -> pd.DataFrame:
    """Per run at the strongest privacy of the table: the worst compared group's and the overall
    test accuracy (points); columns sweep, method, learning_rate, seed, worst_group, overall."""
    strongest = table.loc[table["epsilon"] < float("inf"), "epsilon"].min()
    accuracy = table[(table["metric"] == "test_accuracy") & table["attack_radius"].isna()]
    accuracy = accuracy[accuracy["epsilon"] == strongest]
    if accuracy.duplicated(RUN + ["group"]).any():
        raise ValueError("the tuning table varies a setting besides the method and the learning rate")
    runs = []
    for _, design in accuracy.groupby("sweep"):
        worst = design[design["group"].isin(compared_groups(design))].groupby(RUN)["value"].min()
        overall = design[design["group"] == ALL].set_index(RUN)["value"]
        runs.append(pd.DataFrame({"worst_group": worst, "overall": overall}) * POINTS)
    return pd.concat(runs).reset_index()


def tuning_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Per design, method and learning rate: the mean worst-group and overall accuracy (points)
    over the tuning seeds, and how many seeds there are; every rate must have every seed."""
    runs = tuning_runs(table)
    scores = runs.groupby(RUN[:-1]).agg(
        worst_group=("worst_group", "mean"), overall=("overall", "mean"), seeds=("seed", "nunique")
    )
    # rounded: a mean's last bits depend on the order of the seeds, and a tie must go to the smaller rate
    scores[["worst_group", "overall"]] = scores[["worst_group", "overall"]].round(9)
    if scores["seeds"].nunique() != 1:
        counts = sorted(scores["seeds"].unique())
        raise ValueError(f"the tuning runs have unequal seed counts per learning rate: {counts}")
    return scores.reset_index()


def chosen_learning_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Per design (sweep) and method, the learning rate of the highest mean worst-group accuracy
    (the smaller rate on a tie), with its scores."""
    scores = tuning_scores(table).sort_values(
        ["sweep", "method", "worst_group", LEARNING_RATE], ascending=[True, True, False, True]
    )
    return scores.groupby(["sweep", "method"], sort=False).head(1).reset_index(drop=True)


register(Experiment(
    name="fair_dpsgd_tuning", claim=FAIR_CLAIM, figure=f"{FIGURES}:fair_dpsgd_tuning",
    caption=("Beyond the paper, synthetic model, tuning seeds (not the confirmatory ones). The learning-rate "
             "budget every method gets, DP-SGD included: worst-group and overall test accuracy at the strongest "
             "privacy, per learning rate; each method's rate in the comparison is its highest mean worst-group "
             "point (the smaller rate on a tie)."),
    shown_keys={ANY_SWEEP: SHOWN | {f"training.{LEARNING_RATE}"}},
))  # fmt: skip
