"""The verdict rules and the paper's claim tests on hand-made tables, one per outcome."""

import math

import numpy as np
import pandas as pd
import pytest

from dpharm.claims.judging import run_tests, summarise
from dpharm.claims.rules import (
    ABOVE,
    BELOW,
    FINDING,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_TESTABLE,
    REPRODUCED,
    Context,
    combine,
    verdict,
)
from dpharm.experiments import claim_statements
from dpharm.experiments import paper_tests as t

SEEDS = range(5)
CONTEXT = Context(confidence=0.95, epsilons="mean", room_above_chance=5, bootstrap=200, min_effect=2.0)
SETTINGS = {"confidence": 0.95, "epsilons": "mean", "room_above_chance": 5, "bootstrap": 200,
            "min_effect": {"minority": 2.0, "shrinks": 2.0, "no_guaranteed_gain": 2.0,
                           "governed_by_fnr": 0.8, "transition": 1.5}}  # fmt: skip


def row(**values) -> dict:
    return {"dataset": "synthetic", "sweep": "main", "attack_radius": math.nan, **values}


def imbalance_table(majority_change, minority_change, minority_accuracy=0.95, epsilons=(2.0,)) -> pd.DataFrame:
    """A class_imbalance table with the given per-seed DP-minus-non-DP accuracy changes."""
    rows = []
    for seed in SEEDS:
        for group, changes in (("class0", majority_change), ("class1", minority_change)):
            accuracy = minority_accuracy if group == "class1" else 0.99
            rows.append(row(experiment="class_imbalance", seed=seed, epsilon=math.inf, imbalance_ratio=9.0,
                            group=group, metric="test_accuracy", value=accuracy))  # fmt: skip
            for eps in epsilons:
                rows.append(row(experiment="class_imbalance", seed=seed, epsilon=eps, imbalance_ratio=9.0,
                                group=group, metric="test_accuracy_change", value=changes[seed]))  # fmt: skip
    return pd.DataFrame(rows)


def c2(majority, minority, **options) -> pd.Series:
    return run_tests({"class_imbalance": imbalance_table(majority, minority, **options)}, SETTINGS).iloc[0]


def test_clear_disparate_impact_is_reproduced_in_accuracy_points():
    result = c2([-0.01, -0.02, 0.0, -0.01, -0.02], [-0.20, -0.25, -0.18, -0.22, -0.19])
    assert result["verdict"] == REPRODUCED
    assert result["effect"] == pytest.approx(19.6, abs=1e-9)  # points: mean(minority - majority drop) x 100
    assert result["ci_low"] > 0 and result["n_seeds"] == 5


def test_equal_harm_is_not_reproduced():
    assert c2([-0.10, -0.12, -0.11, -0.10, -0.12], [-0.11, -0.12, -0.10, -0.11, -0.12])["verdict"] == NOT_REPRODUCED


def test_noisy_disparity_is_inconclusive():
    assert c2([0.0] * 5, [-0.4, 0.3, -0.3, 0.2, -0.1])["verdict"] == INCONCLUSIVE


def test_a_minority_without_room_above_chance_is_not_testable():
    # two classes: chance 0.5, and room_above_chance 5 x threshold 2 points asks for 0.60 without DP
    result = c2([-0.01] * 5, [-0.05] * 5, minority_accuracy=0.55)
    assert result["verdict"] == NOT_TESTABLE and "chance" in result["note"] and "0.600" in result["note"]
    assert c2([-0.01] * 5, [-0.05] * 5, minority_accuracy=0.61)["verdict"] != NOT_TESTABLE


def test_effects_are_averaged_over_the_finite_epsilons():
    table = imbalance_table([0.0] * 5, [-0.1] * 5, epsilons=(2.0, 8.0))
    table.loc[(table["epsilon"] == 8.0) & (table["group"] == "class1"), "value"] = -0.3
    assert t.minority(table, CONTEXT).tolist() == pytest.approx([20.0] * 5)
    smallest = Context(0.95, "smallest", 5, 200, min_effect=2.0)
    assert t.minority(table, smallest).tolist() == pytest.approx([10.0] * 5)


def shift_table(gain_small_shift: list[float], gain_large_shift: list[float]) -> pd.DataFrame:
    rows = []
    for seed in SEEDS:
        for angle, gains in ((0.0, gain_small_shift), (90.0, gain_large_shift)):
            for init, accuracy in (("scratch", 0.7), ("pretrained", 0.7 + gains[seed])):
                rows.append(row(experiment="pretraining_shift", seed=seed, epsilon=2.0, shift_angle=angle, init=init,
                                group="all", metric="test_accuracy", value=accuracy))  # fmt: skip
    return pd.DataFrame(rows)


def c5(small, large) -> pd.DataFrame:
    return run_tests({"pretraining_shift": shift_table(small, large)}, SETTINGS).set_index("test")


def test_no_guaranteed_gain_is_reproduced_when_the_gain_at_large_shift_is_bounded_below_the_threshold():
    tests = c5([0.10, 0.11, 0.09, 0.10, 0.12], [0.0, 0.005, -0.005, 0.01, -0.01])
    assert tests.loc["shrinks", "verdict"] == REPRODUCED
    assert tests.loc["no_guaranteed_gain", "verdict"] == REPRODUCED
    assert tests.loc["no_guaranteed_gain", "ci_high"] < 2.0


def test_no_guaranteed_gain_is_not_reproduced_when_pre_training_still_clearly_helps():
    tests = c5([0.10, 0.11, 0.09, 0.10, 0.12], [0.08, 0.09, 0.085, 0.08, 0.09])
    assert tests.loc["no_guaranteed_gain", "verdict"] == NOT_REPRODUCED
    assert tests.loc["shrinks", "verdict"] == INCONCLUSIVE  # 1.9 points, interval up to 3: undecided


def test_no_guaranteed_gain_is_inconclusive_when_its_interval_straddles_the_threshold():
    tests = c5([0.10] * 5, [-0.02, 0.06, 0.0, 0.05, 0.01])
    assert tests.loc["no_guaranteed_gain", "verdict"] == INCONCLUSIVE


def transition_table(fnr_of_accuracy, noise=0.0, seeds=SEEDS) -> pd.DataFrame:
    """Pooled FNR rows whose accuracy follows Phi(FNR) (a Gaussian margin) or is scrambled."""
    rng = np.random.default_rng(1)
    rows = []
    for seed in seeds:
        for fnr in np.geomspace(0.05, 8.0, 12):
            accuracy = float(np.clip(fnr_of_accuracy(fnr) + noise * rng.normal(), 0, 1))
            rows.append({"experiment": "utility_vs_noise", "dataset": "synthetic", "sweep": "x", "condition": "c",
                         "seed": seed, "epsilon": 2.0, "group": "class0", "fnr_measured": fnr,
                         "test_accuracy": accuracy, "test_loss": 1.0})  # fmt: skip
        rows.append({**rows[-1], "group": "class1"})
    return pd.DataFrame(rows)


def c1_pooled(table) -> pd.DataFrame:
    return run_tests({"fnr_transition": table}, SETTINGS).set_index("test")


def test_accuracy_following_the_probit_law_is_governed_by_the_fnr_with_a_sharp_transition():
    from scipy import stats

    tests = c1_pooled(transition_table(stats.norm.cdf))
    assert tests.loc["governed_by_fnr", "verdict"] == REPRODUCED and tests.loc["governed_by_fnr", "rule"] == ABOVE
    assert tests.loc["transition", "verdict"] == REPRODUCED and tests.loc["transition", "rule"] == BELOW
    assert tests.loc["transition", "effect"] == pytest.approx(2 * 1.2816 * 0.4343 * 0.76, rel=0.35)


def test_accuracy_unrelated_to_the_fnr_is_not_governed_by_it():
    tests = c1_pooled(transition_table(lambda fnr: 0.75, noise=0.15))
    assert tests.loc["governed_by_fnr", "verdict"] == NOT_REPRODUCED


def test_a_slow_transition_is_not_reproduced():
    tests = c1_pooled(transition_table(lambda fnr: 0.5 + 0.5 * (np.log10(fnr) + 1.3) / 2.2))
    assert tests.loc["transition", "verdict"] == NOT_REPRODUCED


def test_pooled_statistics_from_too_few_seeds_are_inconclusive():
    from scipy import stats

    tests = c1_pooled(transition_table(lambda fnr: stats.norm.cdf(fnr), noise=0.3, seeds=range(2)))
    assert tests.loc["governed_by_fnr", "verdict"] == INCONCLUSIVE


def test_verdict_rule_boundaries():
    assert verdict(5.0, 1.0, 9.0, 2.0) == REPRODUCED
    assert verdict(1.0, 0.1, 1.9, 2.0) == NOT_REPRODUCED  # real but too small
    assert verdict(1.5, 0.1, 3.0, 2.0) == INCONCLUSIVE
    assert verdict(5.0, math.nan, math.nan, 2.0) == INCONCLUSIVE  # one seed: no interval
    assert verdict(0.9, 0.85, 0.95, 0.8, ABOVE) == REPRODUCED
    assert verdict(0.7, 0.6, 0.79, 0.8, ABOVE) == NOT_REPRODUCED
    assert verdict(1.0, 0.5, 1.4, 1.5, BELOW) == REPRODUCED
    assert verdict(2.0, 1.6, 2.4, 1.5, BELOW) == NOT_REPRODUCED
    assert verdict(1.0, 0.5, 1.6, 1.5, BELOW) == INCONCLUSIVE
    assert verdict(1.0, 0.5, 1.6, 1.5, FINDING) == FINDING


def test_claims_combine_their_tests_but_not_their_findings():
    assert combine([REPRODUCED, REPRODUCED, FINDING]) == REPRODUCED
    assert combine([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE]) == NOT_REPRODUCED
    assert combine([NOT_TESTABLE, NOT_TESTABLE]) == NOT_TESTABLE
    assert combine([NOT_TESTABLE, REPRODUCED]) == INCONCLUSIVE
    assert combine([FINDING]) == INCONCLUSIVE


def test_summary_has_one_row_per_claim_and_dataset():
    tests = pd.DataFrame([
        {"claim": "C2", "experiment": "class_imbalance", "dataset": "synthetic", "test": "minority", "metric": "m",
         "effect": 0.2, "ci_low": 0.1, "ci_high": 0.3, "n_seeds": 5, "verdict": REPRODUCED, "fw_verdict": INCONCLUSIVE},
        {"claim": "C2", "experiment": "real_class_imbalance", "dataset": "digits", "test": "minority", "metric": "m",
         "effect": 0.0, "ci_low": -0.1, "ci_high": 0.1, "n_seeds": 5, "verdict": NOT_TESTABLE,
         "fw_verdict": NOT_TESTABLE},
    ])  # fmt: skip
    claims = summarise(tests, claim_statements())
    assert claims[["dataset", "verdict", "fw_verdict"]].values.tolist() == [
        ["synthetic", REPRODUCED, INCONCLUSIVE],
        ["digits", NOT_TESTABLE, NOT_TESTABLE],
    ]


def fashion_shift_table(gain_same_source: list[float], gain_other_dataset: list[float]) -> pd.DataFrame:
    """fashion_pretraining_shift: a `rotation` sweep (angles 0 and 90) and an `other_dataset` sweep,
    whose rows hold the base angle 0 as the tables do (so selecting by angle alone is ambiguous)."""
    rows = []
    for seed in SEEDS:
        for sweep, angle, source, gains in (("rotation", 0.0, math.nan, gain_same_source),
                                            ("rotation", 90.0, math.nan, [0.0] * 5),
                                            ("other_dataset", 0.0, "digits", gain_other_dataset)):  # fmt: skip
            for init, accuracy in (("scratch", 0.7), ("pretrained", 0.7 + gains[seed])):
                rows.append({**row(experiment="fashion_pretraining_shift", seed=seed, epsilon=2.0, init=init,
                                   group="all", metric="test_accuracy", value=accuracy),
                             "sweep": sweep, "shift_angle": angle, "public_source": source})  # fmt: skip
    return pd.DataFrame(rows)


def test_pre_training_on_another_data_set_is_the_largest_shift():
    table = fashion_shift_table([0.10, 0.11, 0.09, 0.10, 0.12], [0.0, 0.005, -0.005, 0.01, -0.01])
    tests = run_tests({"fashion_pretraining_shift": table}, SETTINGS).set_index("test")
    assert tests.loc["shrinks", "verdict"] == REPRODUCED
    assert tests.loc["shrinks", "effect"] == pytest.approx(10.4)  # 10.4 points (same source) minus 0 (digits)
    assert tests.loc["no_guaranteed_gain", "verdict"] == REPRODUCED
    helps = run_tests({"fashion_pretraining_shift": fashion_shift_table([0.1] * 5, [0.09, 0.1, 0.08, 0.1, 0.09])},
                      SETTINGS).set_index("test")  # fmt: skip
    assert helps.loc["no_guaranteed_gain", "verdict"] == NOT_REPRODUCED


def test_the_html_verdicts_show_every_claim_and_test():
    from dpharm.reporting.claims_page import render_html

    tests = run_tests({"class_imbalance": imbalance_table([0.0] * 5, [-0.3] * 5)}, SETTINGS)
    html = render_html(tests, 0.95)
    assert html.startswith("<!DOCTYPE html>") and html.count("<table") == 2  # the summary, and C2's tests
    assert '<td class="verdict v-reproduced">reproduced</td>' in html and "minority" in html


def freezing_fnr_table(fnr_of_class1_frozen: float) -> pd.DataFrame:
    rows = [row(experiment="mitigations", sweep="freezing", seed=seed, epsilon=2.0, frozen_fraction=fraction,
                group=group, metric="fnr_measured", value=value)
            for seed in SEEDS
            for fraction, fnrs in ((0.0, (1.0, 1.0)), (0.9, (2.0, fnr_of_class1_frozen)))
            for group, value in zip(("class0", "class1"), fnrs, strict=True)]  # fmt: skip
    return pd.DataFrame(rows)


def test_the_fnr_gain_is_a_difference_averaged_over_the_classes():
    effect = t.c6_freezing_fnr(freezing_fnr_table(4.0), CONTEXT)
    assert effect.tolist() == pytest.approx([((2.0 - 1.0) + (4.0 - 1.0)) / 2] * 5)


def test_a_negative_fnr_enters_the_difference_as_it_is():
    # a class with more errors than not under DP has a negative FNR: a log ratio was undefined there
    from dpharm.experiments import claim_tests

    settings = {**SETTINGS, "min_effect": {test.name: 0.1 for test in claim_tests()}}
    tests = run_tests({"mitigations": freezing_fnr_table(-0.2)}, settings)
    (result,) = tests[tests["test"] == "freezing_fnr"].itertuples()
    assert result.effect == pytest.approx(((2.0 - 1.0) + (-0.2 - 1.0)) / 2)
    assert result.verdict == NOT_REPRODUCED


def augmentation_table(drops: dict) -> pd.DataFrame:
    """mitigations' augmentation sweep: accuracy change under DP per multiplicity k."""
    return pd.DataFrame([row(experiment="mitigations", sweep="augmentation", seed=seed, epsilon=2.0,
                             augmentation_multiplicity=k, group="all", metric="test_accuracy_change", value=-drop)
                         for seed in SEEDS for k, drop in drops.items()])  # fmt: skip


def test_augmentation_is_compared_with_the_transform_held_fixed():
    # k = 1 does not augment: the smallest augmented k (2) is compared with the largest (8)
    table = augmentation_table({1.0: 0.05, 2.0: 0.30, 8.0: 0.10})
    assert t.c6_augmentation_accuracy(table, CONTEXT).tolist() == pytest.approx([20.0] * 5)


def adversarial_table(attacked_without_dp: dict) -> pd.DataFrame:
    """adversarial: clean accuracy 0.9 without DP, the given attacked accuracies per budget, and
    under DP (epsilon 2) every accuracy 10 points lower, attacked ones 30 points lower at budget 0.5."""
    rows = []
    for seed in SEEDS:
        rows.append(
            row(experiment="adversarial", seed=seed, epsilon=math.inf, group="all", metric="test_accuracy", value=0.9)
        )
        rows.append(
            row(
                experiment="adversarial", seed=seed, epsilon=2.0, group="all", metric="test_accuracy_change", value=-0.1
            )
        )
        for radius, accuracy in attacked_without_dp.items():
            for eps, drop in ((math.inf, 0.0), (2.0, 0.3 if radius == 0.5 else 0.1)):
                rows.append(
                    {
                        **row(
                            experiment="adversarial",
                            seed=seed,
                            epsilon=eps,
                            group="all",
                            metric="adversarial_accuracy",
                            value=accuracy - drop,
                        ),
                        "attack_radius": radius,
                    }
                )
    return pd.DataFrame(rows)  # fmt: skip


def test_c4_is_judged_where_the_non_private_model_keeps_half_its_clean_accuracy():
    # 0.9 clean: half is 0.45, nearest at budget 0.5 (0.5), not the middle budget 0.25 (0.8) nor the floor 1.0
    table = adversarial_table({0.125: 0.85, 0.25: 0.8, 0.5: 0.5, 1.0: 0.05})
    assert t.off_floor_radius(table, "") == 0.5
    assert t.c4_adversarial(table, CONTEXT).tolist() == pytest.approx([20.0] * 5)  # 30 attacked - 10 clean


def test_the_familywise_view_widens_every_interval_and_can_only_weaken_a_verdict():
    from dpharm.claims.judging import familywise_confidence

    assert familywise_confidence(0.95, 10) == pytest.approx(0.995)
    weak = c2([0.0] * 5, [-0.04, -0.01, -0.05, -0.02, -0.03])  # one test alone: interval [~1, ~5]
    assert weak["verdict"] == REPRODUCED and weak["fw_verdict"] == REPRODUCED  # a family of one
    tests = run_tests({"class_imbalance": imbalance_table([0.0] * 5, [-0.04, -0.01, -0.05, -0.02, -0.03]),
                       "pretraining_shift": shift_table([0.1] * 5, [0.0] * 5)}, SETTINGS)  # fmt: skip
    minority = tests[tests["test"] == "minority"].iloc[0]
    assert minority["fw_ci_low"] < minority["ci_low"] and minority["fw_ci_high"] > minority["ci_high"]
