"""The benchmark runs end to end and writes the tables and figure it documents (no timing asserted)."""

import pandas as pd

from dpharm.tools.benchmark import METHODS, main
from dpharm.tools.benchmark_grid import GRID_LAYOUTS


def test_benchmark_writes_its_tables_and_figure(tmp_path, monkeypatch):
    """Every method on the models asked for (one model here, to keep the test short), and the grid
    (three of its layouts: one job, another method's, and one job per noise level)."""
    from dpharm.tools import benchmark_grid

    layouts = [GRID_LAYOUTS[0], GRID_LAYOUTS[3], GRID_LAYOUTS[6]]
    assert [layout[2] for layout in layouts] == ["one job", "one job", "one job per noise level"]
    monkeypatch.setattr(benchmark_grid, "GRID_LAYOUTS", layouts)
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
    assert list(grid.processes) == [1, 1, 3] and (grid.wall_s > 0).all() and (grid.steps == 2).all()
    assert grid.ratio_to_separate_jobs.iloc[2] == 1.0  # the noise levels' own most-jobs row


def test_fair_benchmark_times_every_method_on_the_paper_model(tmp_path, monkeypatch):
    """Measured in this process (the child processes are exercised above), to keep the test short."""
    from dpharm.tools import benchmark
    from dpharm.tools.benchmark import fair_methods, measure_one

    def in_this_process(arguments):
        _, method, model, repetitions, steps, *_ = arguments
        return measure_one(method, model, int(repetitions), int(steps))

    monkeypatch.setattr(benchmark, "_child", in_this_process)
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
