"""The verdict logic on hand-made tables."""

import math

import numpy as np
import pandas as pd
import pytest

from dpharm.claims import (
    CLAIM_STATEMENTS,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    combine,
    interval,
    run_tests,
    summarise,
    verdict,
)

SEEDS = range(5)


def imbalance_table(majority_change, minority_change) -> pd.DataFrame:
    """A class_imbalance table with the given per-seed DP-minus-non-DP accuracy changes."""
    rows = []
    for seed in SEEDS:
        for group, changes in (("class0", majority_change), ("class1", minority_change)):
            rows.append(
                {
                    "experiment": "class_imbalance",
                    "dataset": "synthetic",
                    "sweep": "main",
                    "seed": seed,
                    "epsilon": 2.0,
                    "imbalance_ratio": 9.0,
                    "group": group,
                    "metric": "test_accuracy_change",
                    "attack_radius": math.nan,
                    "value": changes[seed],
                }
            )
    return pd.DataFrame(rows)


def c2_verdict(majority, minority) -> pd.Series:
    tests = run_tests({"class_imbalance": imbalance_table(majority, minority)}, {"minority": 0.02}, 0.95)
    return tests.iloc[0]


def test_clear_disparate_impact_is_reproduced():
    row = c2_verdict([-0.01, -0.02, 0.0, -0.01, -0.02], [-0.20, -0.25, -0.18, -0.22, -0.19])
    assert row["verdict"] == REPRODUCED
    assert row["effect"] == pytest.approx(0.196, abs=1e-9)
    assert row["ci_low"] > 0 and row["n_seeds"] == 5


def test_equal_harm_is_not_reproduced():
    row = c2_verdict([-0.10, -0.12, -0.11, -0.10, -0.12], [-0.11, -0.12, -0.10, -0.11, -0.12])
    assert row["verdict"] == NOT_REPRODUCED


def test_opposite_effect_is_not_reproduced():
    row = c2_verdict([-0.30] * 4 + [-0.31], [-0.01] * 4 + [-0.02])
    assert row["effect"] < 0 and row["verdict"] == NOT_REPRODUCED


def test_noisy_effect_is_inconclusive():
    row = c2_verdict([0.0] * 5, [-0.4, 0.3, -0.3, 0.2, -0.1])
    assert row["verdict"] == INCONCLUSIVE


def test_verdict_rule_boundaries():
    assert verdict(0.05, 0.01, 0.09, 0.02) == REPRODUCED
    assert verdict(0.01, 0.001, 0.019, 0.02) == NOT_REPRODUCED  # real but too small
    assert verdict(0.015, 0.001, 0.03, 0.02) == INCONCLUSIVE
    assert verdict(0.05, math.nan, math.nan, 0.02) == INCONCLUSIVE  # one seed: no interval
    assert combine([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert combine([REPRODUCED, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE]) == NOT_REPRODUCED


def test_interval_is_student_t():
    mean, low, high = interval(pd.Series([1.0, 2.0, 3.0]), 0.95)
    assert mean == 2.0 and high - mean == pytest.approx(4.302653 * 1 / np.sqrt(3), rel=1e-5)


def test_summary_has_one_row_per_claim_and_dataset():
    tests = run_tests({"class_imbalance": imbalance_table([0.0] * 5, [-0.3] * 4 + [-0.29])}, {"minority": 0.02}, 0.95)
    claims = summarise(tests, CLAIM_STATEMENTS)
    assert list(claims.columns) == [
        "claim",
        "experiment",
        "dataset",
        "statement",
        "metric",
        "effect",
        "ci_low",
        "ci_high",
        "n_seeds",
        "verdict",
    ]
    assert claims.iloc[0]["claim"] == "C2" and claims.iloc[0]["verdict"] == REPRODUCED
