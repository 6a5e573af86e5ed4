"""Figures say what they show: the data set in the title, legend titles in words, the verdicts;
no tick label over another; intervals within the metric's range."""

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

from dpharm.experiments import REGISTRY
from dpharm.reporting.plots import (
    interval_of,
    legends_beside_the_data,
    name_the_data,
    share_comparable_y,
    state_the_verdicts,
    verdict_lines,
    within_range,
)
from helpers import REPO

matplotlib.use("Agg")


def mitigation_rows() -> pd.DataFrame:
    rows = []
    for sweep, column, values in (("augmentation", "augmentation_multiplicity", (1, 4)),
                                  ("freezing", "frozen_fraction", (0.0, 0.5))):  # fmt: skip
        for value in values:
            for seed in range(3):
                for epsilon in (math.inf, 3.0):
                    for metric, group in (("test_accuracy", "all"), ("test_loss", "all"), ("fnr_measured", "class0")):
                        rows.append({"experiment": "fashion_mitigations", "dataset": "fashion_mnist",
                                     "sweep": sweep, column: value, "seed": seed, "epsilon": epsilon,
                                     "group": group, "metric": metric, "attack_radius": math.nan,
                                     "value": 1.0 + seed / 10})  # fmt: skip
    return pd.DataFrame(rows)


def test_a_figure_names_its_data_set_and_its_legends_in_words():
    table = mitigation_rows()
    figure = REGISTRY["fashion_mitigations"].draw(table, interval_of(0.95))
    name_the_data(figure, table)
    legends_beside_the_data(figure)
    assert figure.get_suptitle().startswith("Fashion-MNIST. C6")
    titles = [ax.get_legend().get_title().get_text() for ax in figure.axes if ax.get_legend() is not None]
    assert sorted(titles) == ["augmented views per example (k)", "share of filters frozen"]  # one per sweep
    # C6's accuracy tests judge the test accuracy: a panel shows it, beside loss and FNR
    assert [ax.get_ylabel() for ax in figure.axes[:3]] == ["test accuracy", "test loss", "measured FNR (class 0)"]


def overlapping_labels(figure) -> list[tuple[str, str]]:
    """Pairs of tick labels of one axis whose drawn boxes come within 2 pixels of each other."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    pairs = []
    for ax in figure.axes:
        for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
            shown = [label for label in labels if label.get_visible() and label.get_text()]
            boxes = [label.get_window_extent(renderer).expanded(1.0, 1.0).padded(2) for label in shown]  # 2 px apart
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    if boxes[i].overlaps(boxes[j]):
                        pairs.append((shown[i].get_text(), shown[j].get_text()))
    return pairs


COMMITTED_FIGURES = sorted(name for name in REGISTRY if (REPO / "results" / "tables" / f"{name}.csv").exists())


@pytest.mark.parametrize("name", COMMITTED_FIGURES)
def test_no_tick_labels_overlap_in_a_committed_figure(name):
    """Every figure drawn from its committed table, verdicts included, has no tick label over another."""
    import matplotlib.pyplot as plt

    table = pd.read_csv(REPO / "results" / "tables" / f"{name}.csv")
    tests = pd.read_csv(REPO / "results" / "tables" / "claim_tests.csv")
    figure = REGISTRY[name].draw(table, interval_of(0.95))
    name_the_data(figure, table)
    state_the_verdicts(figure, tests[tests["experiment"] == name], table)
    share_comparable_y(figure)
    legends_beside_the_data(figure)
    assert overlapping_labels(figure) == []
    plt.close(figure)


def test_the_overlap_check_finds_overlapping_labels():
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(1, 1))
    ax.set_xticks(range(4), ["inf (non-private)", "16", "8", "4"])
    assert ("inf (non-private)", "16") in overlapping_labels(figure)
    plt.close(figure)


def test_accuracy_intervals_stay_within_0_and_1():
    errorbar = within_range(interval_of(0.95), pd.DataFrame({"metric": ["test_accuracy"]}))
    low, high = errorbar([0.99, 1.0, 1.0, 0.9])
    assert low >= 0.0 and high == 1.0
    unclipped = interval_of(0.95)([0.99, 1.0, 1.0, 0.9])
    assert unclipped[1] > 1.0 and low == pytest.approx(unclipped[0])


def test_a_claim_figure_states_its_verdicts():
    figure = REGISTRY["fashion_mitigations"].draw(mitigation_rows(), interval_of(0.95))
    tests = pd.DataFrame([{"claim": "C6", "test": "freezing_fnr", "verdict": "inconclusive", "effect": 0.05,
                           "ci_low": -0.1, "ci_high": 0.2, "min_effect": 0.1, "metric": "log FNR ratio",
                           "note": ""}])  # fmt: skip
    state_the_verdicts(figure, tests, mitigation_rows())
    assert figure._supxlabel.get_text() == "verdicts: C6 freezing_fnr: inconclusive 0.05 [-0.1, 0.2] (threshold 0.1)"


def test_a_not_testable_reason_names_groups_as_the_legends_do():
    table = pd.DataFrame([{"group": "class9", "label": 8.0, "dataset": "digits"},
                          {"group": "class0/tail", "label": float("nan"), "dataset": "digits"}])  # fmt: skip
    tests = pd.DataFrame([{"claim": "C2", "test": "minority", "verdict": "not testable", "effect": float("nan"),
                           "ci_low": float("nan"), "ci_high": float("nan"), "min_effect": 2.0,
                           "note": "class9 is below 0.200 without DP; class0/tail too; class10 unknown"}])  # fmt: skip
    (line,) = verdict_lines(tests, table)
    assert line == (
        "C2 minority: not testable (threshold 2): digit 8 is below 0.200 without DP; class 0, tail too; class10 unknown"
    )


def test_panels_of_one_quantity_share_their_y_range_and_one_legend_serves_them_all():
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2)
    for ax, top in zip(axes, (1.0, 5.0), strict=True):
        ax.plot([0, 1], [0, top], label="a")
        ax.plot([0, 1], [1, 0], label="b")
        ax.set_ylabel("test loss")
        ax.legend(title="group")
    share_comparable_y(figure)
    legends_beside_the_data(figure)
    assert axes[0].get_ylim() == axes[1].get_ylim()
    assert axes[0].get_legend() is None and axes[1].get_legend() is not None
    plt.close(figure)


def test_identical_legends_in_two_rows_are_kept_once_beside_the_top_row():
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2)
    for ax in axes.flat:
        ax.plot([0, 1], [0, 1], label="pretrained")
        ax.legend(title="start")
    axes[1][1].get_legend().remove()
    axes[1][1].plot([0, 1], [1, 0], label="8")
    axes[1][1].legend(title="epsilon_label")
    legends_beside_the_data(figure)
    kept = {(i, j): ax.get_legend().get_title().get_text() for (i, j), ax in np.ndenumerate(axes) if ax.get_legend()}
    assert kept == {(0, 1): "start", (1, 1): "target epsilon"}
    plt.close(figure)


def test_an_attack_figure_of_one_epsilon_draws():
    # the epsilons are dodged apart; with one there is nothing to dodge (seaborn would divide by zero)
    import matplotlib.pyplot as plt

    table = pd.read_csv(REPO / "results" / "tables" / "real_adversarial.csv")
    figure = REGISTRY["real_adversarial"].draw(table[np.isinf(table["epsilon"])], interval_of(0.95))
    assert figure.axes[0].has_data()
    plt.close(figure)


def test_the_fair_figures_state_one_verdict_line_per_design(repo):
    """The fair comparison's footer: one line per design with each method's verdict and both
    effects, not one line per test (20 on the synthetic figure)."""
    from dpharm.experiments.fair_dpsgd import method_verdicts

    tests = pd.read_csv(repo / "results/tables/claim_tests.csv")
    own = tests[tests["experiment"] == "fair_dpsgd"]
    lines = REGISTRY["fair_dpsgd"].summarise_verdicts(own, pd.DataFrame())
    assert len(lines) == 2 and len(own) == 20
    for line, (design, rows) in zip(lines, method_verdicts(own).groupby("design", sort=False), strict=True):
        assert line.startswith(design)
        for row in rows.itertuples():
            assert f"{row.method} {row.verdict} ({row.gain:+.1f}, {row.overall:+.1f})" in line
    assert REGISTRY["class_imbalance"].summarise_verdicts(own, pd.DataFrame()) is None  # one line per test
