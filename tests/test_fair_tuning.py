"""The fair comparison's learning-rate budget: the choice per method, the config check, and a
learning rate paired with the method accepted where an unpaired sweep is refused."""

import pandas as pd
import pytest

from dpharm.experiments.fair_tuning import chosen_learning_rates, tuning_scores
from dpharm.setup.config import ConfigError
from dpharm.setup.validation import validate_config
from dpharm.tools.tune_fair import configured_rates, disagreements, main

# (method, learning rate) -> per seed, (class0, class1) test accuracy; the worst is the minimum
ACCURACIES = {
    ("dp-sgd", 3.0): [(0.9, 0.5), (0.9, 0.7)],  # worst 0.6 on average
    ("dp-sgd", 10.0): [(0.8, 0.7), (0.9, 0.7)],  # worst 0.7: chosen
    ("fnr-balanced", 3.0): [(0.9, 0.6), (0.6, 0.9)],  # worst 0.6: a tie, the smaller rate wins
    ("fnr-balanced", 10.0): [(0.6, 0.9), (0.9, 0.6)],
}


def tuning_table(accuracies=ACCURACIES) -> pd.DataFrame:
    rows = []
    for (method, rate), seeds in accuracies.items():
        for seed, (first, second) in enumerate(seeds):
            for group, value in (("class0", first), ("class1", second), ("all", (first + second) / 2)):
                for epsilon, scale in ((1.0, 1.0), (float("inf"), 0.0)):  # the non-private rows must be ignored
                    rows.append({"sweep": "imbalance", "method": method, "learning_rate": rate, "seed": seed,
                                 "epsilon": epsilon, "metric": "test_accuracy", "group": group,
                                 "attack_radius": float("nan"), "value": value * scale + (1 - scale)})  # fmt: skip
    return pd.DataFrame(rows)


def test_each_method_gets_the_rate_of_its_best_mean_worst_group_accuracy_ties_to_the_smaller():
    chosen = chosen_learning_rates(tuning_table()).set_index("method")
    assert chosen.loc["dp-sgd", "learning_rate"] == 10.0
    assert chosen.loc["dp-sgd", "worst_group"] == pytest.approx(70.0)
    assert chosen.loc["dp-sgd", "overall"] == pytest.approx(77.5)
    assert chosen.loc["fnr-balanced", "learning_rate"] == 3.0


def test_a_rate_with_fewer_seeds_is_refused():
    accuracies = {**ACCURACIES, ("dp-sgd", 30.0): [(0.9, 0.9)]}
    with pytest.raises(ValueError, match="unequal seed counts"):
        tuning_scores(tuning_table(accuracies))


def comparison_config(default_config: dict, rates: list[float]) -> dict:
    grid = {"data.imbalance_ratio": [9.0], "training.method": ["dp-sgd", "fnr-balanced"],
            "training.learning_rate": rates, "paired": ["training.method", "training.learning_rate"],
            "training.epsilon": [1.0]}  # fmt: skip
    block = {"enabled": True, "sweeps": {"imbalance": grid}}
    return {**default_config, "experiments": {"fair_dpsgd": block}}


def test_a_config_is_checked_against_the_choice(default_config):
    chosen = chosen_learning_rates(tuning_table())
    assert disagreements(chosen, configured_rates(comparison_config(default_config, [10.0, 3.0]))) == []
    assert disagreements(chosen, configured_rates(comparison_config(default_config, [10.0, 10.0]))) == [
        "imbalance / fnr-balanced: chosen 3.0, configured 10.0"
    ]


def test_the_tool_exits_1_on_a_disagreeing_config_and_2_without_a_table(default_config, tmp_path, capsys):
    import yaml

    table, config = tmp_path / "tuning.csv", tmp_path / "config.yaml"
    tuning_table().to_csv(table, index=False)
    config.write_text(yaml.safe_dump(comparison_config(default_config, [3.0, 3.0])))
    with pytest.raises(SystemExit) as failed:
        main([str(table), "--check", str(config)])
    assert failed.value.code == 1
    assert "imbalance / dp-sgd: chosen 10.0, configured 3.0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main([str(tmp_path / "absent.csv")])
    assert usage.value.code == 2


def test_a_rate_paired_with_the_method_is_shown_an_unpaired_rate_sweep_is_refused(default_config):
    validate_config(comparison_config(default_config, [10.0, 3.0]))
    unpaired = comparison_config(default_config, [10.0, 3.0])
    del unpaired["experiments"]["fair_dpsgd"]["sweeps"]["imbalance"]["paired"]
    with pytest.raises(ConfigError, match="cannot show a sweep over 'training.learning_rate'"):
        validate_config(unpaired)


def test_the_shipped_comparison_trains_every_method_at_its_chosen_rate(repo):
    config = repo / "config.yaml"
    main([str(repo / "results/tables/fair_dpsgd_tuning.csv"), "--check", str(config)])


def test_an_experiment_without_tests_is_judged_to_no_rows_and_drawn(default_config, tmp_path):
    """The tuning experiment has no claim test: its figure job judges it to an empty table."""
    from dpharm.claims.judging import judge
    from dpharm.reporting.plots import draw

    table = tuning_table().assign(dataset="synthetic", experiment="fair_dpsgd_tuning")
    tests, claims = judge({"fair_dpsgd_tuning": table}, default_config["claims"])
    assert tests.empty and "verdict" in tests.columns and claims.empty
    draw("fair_dpsgd_tuning", table, tests, tmp_path / "f.pdf", tmp_path / "f.png", 0.95)
    assert (tmp_path / "f.png").stat().st_size > 0


def test_a_tie_goes_to_the_smaller_rate_whatever_the_order_of_the_seeds():
    """Equal accuracies summed in another order differ in their last bits; the tie rule must not."""
    values = [
        (0.43, 0.9),
        (0.53, 0.9),
        (0.583, 0.9),
        (0.674, 0.9),
        (0.69, 0.9),
    ]  # means 58.14000000000001 and, reversed, 58.14
    accuracies = {("dp-sgd", 3.0): values[::-1], ("dp-sgd", 10.0): values}
    assert chosen_learning_rates(tuning_table(accuracies))["learning_rate"].tolist() == [3.0]
