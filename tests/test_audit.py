"""The empirical privacy audit: sound on DP-SGD, powerful on broken mechanisms."""

import math

import numpy as np
import pandas as pd
import pytest

from dpharm.claims.judging import audit_tests
from dpharm.claims.rules import NOT_REPRODUCED, REPRODUCED
from dpharm.measurement.privacy_audit import epsilon_ceiling, epsilon_lower_bound, run_audit
from dpharm.training.methods import BASELINE_METHOD, method_names

AUDIT = dict(
    dimension=20,
    n_train=10,
    feature_norm=4.0,
    width=4,
    init_std=0.5,
    steps=1,
    epsilon=1.0,
    delta=1e-5,
    clip_norm=1.0,
    learning_rate=1.0,
    canary_scale=1000.0,
    trials=200,
    confidence=0.95,
    mechanisms=["dp-sgd", "no-noise", "no-clipping"],
)


def test_separated_scores_give_the_clopper_pearson_bound():
    rng = np.random.default_rng(0)
    out, inside = rng.normal(0, 1, 400), rng.normal(100, 1, 400)
    bound, fpr, fnr = epsilon_lower_bound(out, inside, 1e-5, 0.95)
    expected_rate = 1 - 0.025 ** (1 / 200)  # no error among 200 held-out trials
    assert fpr == pytest.approx(expected_rate, rel=1e-6) and fnr == pytest.approx(expected_rate, rel=1e-6)
    assert bound == pytest.approx(math.log((1 - 1e-5 - expected_rate) / expected_rate), rel=1e-6)


def test_the_ceiling_is_the_bound_of_a_perfect_attack():
    """400 trials per side hold out 200: no error among them bounds each rate by 1 - 0.025^(1/200),
    and perfectly separated scores reach exactly that ceiling."""
    rate = 1 - 0.025 ** (1 / 200)
    assert epsilon_ceiling(400, 1e-5, 0.95) == pytest.approx(math.log((1 - 1e-5 - rate) / rate), rel=1e-9)
    rng = np.random.default_rng(0)
    perfect, _, _ = epsilon_lower_bound(rng.normal(0, 1, 400), rng.normal(100, 1, 400), 1e-5, 0.95)
    assert perfect == pytest.approx(epsilon_ceiling(400, 1e-5, 0.95), rel=1e-9)


def test_indistinguishable_scores_give_no_evidence():
    rng = np.random.default_rng(1)
    bounds = [epsilon_lower_bound(rng.normal(size=400), rng.normal(size=400), 1e-5, 0.95)[0] for _ in range(20)]
    assert max(bounds) < 0.5  # a true epsilon of 0 is bounded below by well under 0.5 every time


def test_audit_is_sound_for_dp_sgd_and_catches_broken_mechanisms():
    rows = {row["mechanism"]: row for row in run_audit(AUDIT)}
    claimed = rows["dp-sgd"]["epsilon_accountant"]
    assert claimed == pytest.approx(1.0, rel=0.01)
    assert rows["dp-sgd"]["epsilon_lower_bound"] <= claimed
    for control in ("no-noise", "no-clipping"):
        assert rows[control]["epsilon_accountant"] == claimed
        assert claimed + 1.0 < rows[control]["epsilon_lower_bound"] <= rows[control]["epsilon_ceiling"]
    verdicts = audit_tests(pd.DataFrame(rows.values()), min_power=1.0)
    assert set(verdicts["verdict"]) == {REPRODUCED}


@pytest.mark.parametrize("method", [m for m in method_names() if m != BASELINE_METHOD])
def test_the_audit_of_every_fair_method_stays_under_its_accountant(method):
    (row,) = run_audit({**AUDIT, "mechanisms": [method]})
    assert row["epsilon_accountant"] == pytest.approx(1.0, rel=0.01)
    assert row["epsilon_lower_bound"] <= row["epsilon_accountant"]
    assert audit_tests(pd.DataFrame([row]), min_power=1.0)["verdict"].tolist() == [REPRODUCED]


def test_an_audit_beating_the_accountant_is_not_reproduced():
    table = pd.DataFrame(
        [
            {
                "mechanism": "dp-sgd",
                "epsilon_accountant": 1.0,
                "epsilon_lower_bound": 1.3,
                "confidence": 0.95,
                "n_trials": 400,
            }
        ]
    )
    assert audit_tests(table, min_power=1.0)["verdict"].tolist() == [NOT_REPRODUCED]
