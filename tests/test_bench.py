"""The benchmark runs end to end and writes the tables and figure it documents (no timing asserted)."""

import pandas as pd

from dpharm.tools.benchmark import METHODS, main
from dpharm.tools.benchmark_grid import GRID_LAYOUTS


def test_benchmark_writes_its_tables_and_figure(tmp_path):
    """Every method on the models asked for (one model here, to keep the test short), and the grid."""
    main(["--output", str(tmp_path), "--rounds", "1", "--repetitions", "1", "--steps", "2", "--models", "paper",
          "--grid-seeds", "1", "--grid-repetitions", "1", "--grid-steps", "2"])  # fmt: skip
    throughput = pd.read_csv(tmp_path / "dpsgd_throughput.csv")
    for column in (
        "model",
        "method",
        "d",
        "m",
        "batch",
        "examples_per_s",
        "ratio_to_nonprivate",
        "peak_rss_mb",
        "device",
    ):
        assert column in throughput.columns
    assert set(zip(throughput.model, throughput.method, strict=False)) == {("paper", k) for k in METHODS}
    assert (throughput.examples_per_s > 0).all()
    assert (throughput[throughput.method == "nonprivate"].ratio_to_nonprivate == 1.0).all()
    assert (tmp_path / "dpsgd_throughput.png").stat().st_size > 10_000
    grid = pd.read_csv(tmp_path / "dpsgd_grid.csv")
    assert len(grid) == len(GRID_LAYOUTS) and (grid.wall_s > 0).all() and (grid.steps == 2).all()


def test_fair_benchmark_times_every_method_on_the_paper_model(tmp_path):
    from dpharm.tools.benchmark import fair_methods

    main(["--output", str(tmp_path), "--rounds", "1", "--repetitions", "1", "--steps", "1", "--fair"])
    table = pd.read_csv(tmp_path / "fair_dpsgd_throughput.csv")
    assert set(table.method) == {"nonprivate", "ours", *fair_methods()} and set(table.model) == {"paper"}
    assert (table.step_ms > 0).all() and not (tmp_path / "dpsgd_throughput.csv").exists()


def test_every_visible_option_has_help_text():
    import argparse

    from dpharm.tools.benchmark import argument_parser

    parser = argument_parser()
    assert parser.prog == "python -m dpharm.bench" and "Writes to results/benchmarks/" in parser.description
    for action in parser._actions:
        assert action.help, action.option_strings  # SUPPRESS is a non-empty string: the children's entry points
    hidden = {a.dest for a in parser._actions if a.help == argparse.SUPPRESS}
    assert hidden == {"one", "grid_job"}


def test_the_throughput_figure_has_a_linear_axis_from_zero_and_prints_the_ratios(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from dpharm.tools import benchmark
    from helpers import REPO

    table = pd.read_csv(REPO / "results" / "benchmarks" / "dpsgd_throughput.csv")
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to look at it
    benchmark.plot_throughput(table, tmp_path / "throughput.png")
    (figure,) = figures
    for ax in figure.axes:
        assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
    labels = {text.get_text() for ax in figure.axes for text in ax.texts}
    assert {f"{ratio:.3g}× time" for ratio in table["ratio_to_nonprivate"]} == labels
