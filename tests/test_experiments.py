"""The experiment registry: a new experiment is one config block plus one registered Experiment."""

import math

import matplotlib
import pandas as pd
import pytest

from dpharm import experiments
from dpharm.claims.judging import run_tests
from dpharm.claims.rules import ClaimTest
from dpharm.experiments import ANY_SWEEP, Experiment, register
from dpharm.reporting.plots import draw
from dpharm.setup.config import ConfigError
from dpharm.setup.plan import Plan
from dpharm.setup.validation import validate_config


def toy_figure(table, errorbar):
    """A figure drawn from the table alone: test accuracy per epsilon."""
    figure, ax = matplotlib.pyplot.subplots()
    rows = table[table["metric"] == "test_accuracy"]
    ax.plot(rows["epsilon"], rows["value"], "o")
    return figure


def toy_effect(table, context):
    """Per seed, the accuracy at the smallest epsilon: positive means 'the toy claim holds'."""
    rows = table[(table["metric"] == "test_accuracy") & (table["epsilon"] == table["epsilon"].min())]
    return rows.set_index("seed")["value"]


@pytest.fixture()
def toy_experiment():
    """The docs/architecture.md recipe, followed once: register an experiment, then remove it again."""
    experiment = register(
        Experiment(
            name="toy_accuracy",
            claim="C1",
            figure=f"{__name__}:toy_figure",
            caption="A toy experiment.",
            tests=(ClaimTest("toy", "accuracy stays positive", "test_accuracy", toy_effect),),
            shown_keys={ANY_SWEEP: frozenset({"data.feature_norm"})},
        )
    )
    yield experiment
    del experiments.REGISTRY[experiment.name]


def toy_block(sweep: dict) -> dict:
    return {"enabled": True, "sweeps": {"main": sweep}}


def with_toy(config: dict, block: dict, threshold: float | None = 0.1) -> dict:
    """The config with only the toy experiment, and its test's threshold (step 3 of the recipe)."""
    thresholds = dict(config["claims"]["min_effect"])
    if threshold is not None:
        thresholds["toy"] = threshold
    return {**config, "experiments": {"toy_accuracy": block}, "claims": {**config["claims"], "min_effect": thresholds}}


def test_a_registered_experiment_is_planned_judged_and_drawn(default_config, toy_experiment, tmp_path):
    config = with_toy(default_config, toy_block({"data.feature_norm": [4.0, 8.0], "training.epsilon": [math.inf, 2.0]}))
    validate_config(config)
    plan = Plan(config)
    assert len(plan.conditions) == 4 and "results/figures/toy_accuracy.png" in plan.final_targets()
    table = pd.DataFrame(
        [
            {
                "experiment": "toy_accuracy",
                "dataset": "synthetic",
                "seed": seed,
                "epsilon": eps,
                "group": "all",
                "metric": "test_accuracy",
                "attack_radius": math.nan,
                "value": 0.5 + 0.01 * seed,
            }
            for seed in range(3)
            for eps in (math.inf, 2.0)
        ]
    )
    (row,) = run_tests({"toy_accuracy": table}, config["claims"]).itertuples()
    assert row.test == "toy" and row.effect == pytest.approx(0.51) and row.verdict == "reproduced"
    tests = run_tests({"toy_accuracy": table}, config["claims"]).assign(claim="C9", experiment="toy_accuracy")
    draw("toy_accuracy", table, tests, tmp_path / "toy.pdf", tmp_path / "toy.png", 0.95)
    assert (tmp_path / "toy.png").stat().st_size > 0


def test_a_registered_test_needs_its_threshold_and_unknown_thresholds_are_refused(default_config, toy_experiment):
    block = toy_block({"data.feature_norm": [4.0], "training.epsilon": [2.0]})
    with pytest.raises(ConfigError, match="claims.min_effect.toy': missing"):
        validate_config(with_toy(default_config, block, threshold=None))
    config = with_toy(default_config, block)
    config["claims"]["min_effect"]["tyop"] = 1.0
    with pytest.raises(ConfigError, match="claims.min_effect.tyop': not a registered test"):
        validate_config(config)


def test_an_unregistered_experiment_name_is_refused(default_config):
    config = {**default_config, "experiments": {"not_registered": toy_block({"training.epsilon": [2.0]})}}
    with pytest.raises(ConfigError, match="experiments.not_registered': not a registered experiment"):
        validate_config(config)


def test_a_sweep_the_figure_cannot_show_is_refused_before_any_job(default_config, toy_experiment):
    config = {
        **default_config,
        "experiments": {
            "toy_accuracy": toy_block(
                {"data.feature_norm": [4.0], "data.n_train": [50, 100], "training.epsilon": [2.0]}
            )
        },
    }
    with pytest.raises(ConfigError, match="cannot show a sweep over 'data.n_train'"):
        validate_config(config)


def test_a_paper_panel_sweep_under_another_name_is_refused(default_config):
    """utility_vs_noise draws one row per named sweep: an unknown sweep name would not be drawn."""
    config = dict(default_config)
    sweeps = dict(config["experiments"]["utility_vs_noise"]["sweeps"])
    sweeps["depth"] = {"model.width": [5], "training.epsilon": [2.0]}
    config["experiments"] = {
        **config["experiments"],
        "utility_vs_noise": {**config["experiments"]["utility_vs_noise"], "sweeps": sweeps},
    }
    with pytest.raises(ConfigError, match="no panel for a sweep named 'depth'"):
        validate_config(config)


def test_every_registered_test_has_a_pre_registered_threshold(default_config):
    thresholds = default_config["claims"]["min_effect"]
    assert all(test.name in thresholds for test in experiments.claim_tests())
