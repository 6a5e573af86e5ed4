"""Speed of DP-SGD on the two-layer patch CNN: `python -m dpharm.bench`.

Writes to results/benchmarks/ (or --output):
- dpsgd_throughput.csv and .png: training examples per second of one step on a fixed batch
  (forward, backward, clipping, noise, update; data sampling excluded for every method),
  median over --rounds x --repetitions timed blocks after a warm-up, for plain SGD, Opacus
  hooks, Opacus ghost and ours (dpharm.training.stacked), on the paper's synthetic model, an
  MNIST-shaped image model (16 patches of 7x7) and Fashion-MNIST as calibrated (4 of 14x14).
  Each method runs in a fresh process per round, so its peak
  resident memory is its own, and the rounds interleave the methods in time.
- dpsgd_grid.csv: wall time of training S seeds of one grid point (the default synthetic
  setting at epsilon 4) as one job with one stack, against one job training them one after
  another and against S single-seed jobs (S processes), start-up included, as the workflow runs
  jobs; Opacus ghost clipping for comparison. And S seeds at three noise levels (epsilon 8, 4,
  2) as one stack in one job, as the workflow trains a grid point, against one job per noise
  level.
- fair_dpsgd_throughput.csv (with --fair): the step of each fair DP-SGD method
  (training.method, dpharm.training.fair) on the paper's model next to ours (dp-sgd) and plain SGD,
  timed as above; the group methods take the classes as groups.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import matplotlib
import pandas as pd
import seaborn as sns
import torch

from dpharm.io import atomic_path
from dpharm.measurement.tables import write_csv
from dpharm.setup.provenance import device_description
from dpharm.setup.runtime import configure_torch
from dpharm.tools.benchmark_grid import grid_job, grid_table
from dpharm.training.members import Member
from dpharm.training.methods import BASELINE_METHOD, method_names
from dpharm.training.model import build_model
from dpharm.training.opacus_training import make_private
from dpharm.training.privacy import epsilon_spent
from dpharm.training.settings import ModelSettings, TrainingSettings
from dpharm.training.stack_batches import Batch
from dpharm.training.stacked import Stack

MODELS = {
    # the paper's synthetic model at the size of issue #5's measurements
    "paper": {"dimension": 1000, "patches": 2, "classes": 2, "width": 50, "batch": 256},
    # MNIST cut into 7x7 patches (config/mnist.yaml): 16 patches of 49 pixels, 10 classes
    "image": {"dimension": 49, "patches": 16, "classes": 10, "width": 20, "batch": 256},
    # Fashion-MNIST as calibrated (the fashion_* experiments): 4 patches of 14x14, batch 1024
    "fashion": {"dimension": 196, "patches": 4, "classes": 10, "width": 20, "batch": 1024},
}
METHODS = ("nonprivate", "opacus-hooks", "opacus-ghost", "ours")


def fair_methods() -> list[str]:
    """Every registered training method besides DP-SGD (which is "ours"), on the fast path as the
    workflow trains them (`dpharm.training.methods`)."""
    return [name for name in method_names() if name != BASELINE_METHOD]


CLIP, NOISE, LEARNING_RATE = 1.0, 1.0, 0.1


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _step_function(method: str, shape: dict):
    """A closure running one training step of `method` on one fixed random batch."""

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape["batch"], shape["patches"], shape["dimension"], generator=generator)
    y = torch.randint(0, shape["classes"], (shape["batch"],), generator=generator)
    model = build_model(
        ModelSettings(width=shape["width"], init_std=0.01), shape["dimension"], shape["classes"], seed=0
    )
    training = TrainingSettings(
        steps=10**9,
        learning_rate=LEARNING_RATE,
        batch_size=shape["batch"],
        clip_norm=CLIP,
        delta=1e-5,
        accountant="rdp",
    )
    if method == "nonprivate":
        optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)

        def step():
            """Plain SGD on the fixed batch."""
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    elif method == "ours" or method in fair_methods():
        # steps only set the accounting here (the fixed batch bypasses the sampler): the epsilon
        # of NOISE over 1,000 full-batch steps, so that fnr-balanced can split it
        fair = replace(training, method=BASELINE_METHOD if method == "ours" else method, steps=1000)
        epsilon = epsilon_spent(NOISE, 1.0, fair.steps, fair.delta, fair.accountant)
        member = Member(model, x, y, 0, noise_multiplier=NOISE, epsilon=epsilon, groups=y, num_groups=shape["classes"])
        stack = Stack([member], training=fair, device=torch.device("cpu"))
        # the whole data set as the fixed batch (Poisson sampling excluded, as for every method)
        batch = Batch(x[None], y[None], torch.ones(1, len(y)), [len(y)], stack.input_grams[0][None], y[None])

        def step():
            """The stack's closed-form clipping, Opacus's noise and the update, on the fixed batch."""
            stack.step(batch)
    else:
        mode = method.removeprefix("opacus-")
        private = make_private(
            model,
            x,
            y,
            training=replace(training, grad_sample_mode=mode),
            noise_multiplier=NOISE,
            seed=0,
            device=torch.device("cpu"),
        )

        def step():
            """Opacus's per-example clipping (hooks or ghost), noise and update, on the fixed batch."""
            private.optimizer.zero_grad(set_to_none=True)
            private.criterion(private.model(x), y).backward()
            private.optimizer.step()

    return step


def measure_one(method: str, model: str, repetitions: int, steps: int) -> dict:
    """Time `method` in this process: seconds per step of `repetitions` blocks after a warm-up."""
    shape = MODELS[model]
    step = _step_function(method, shape)
    baseline = _rss_mb()
    for _ in range(max(3, steps // 5)):  # warm-up
        step()
    blocks = []
    for _ in range(repetitions):
        started = time.perf_counter()
        for _ in range(steps):
            step()
        blocks.append((time.perf_counter() - started) / steps)
    return {
        "model": model,
        "method": method,
        "d": shape["dimension"],
        "m": shape["width"],
        "patches": shape["patches"],
        "classes": shape["classes"],
        "batch": shape["batch"],
        "block_seconds": blocks,
        "peak_rss_mb": _peak_rss_mb(),
        "step_memory_mb": max(0.0, _peak_rss_mb() - baseline),
    }


def _child(arguments: list[str]) -> dict:
    """Run this module in a fresh interpreter and return the JSON it prints last."""
    done = subprocess.run(
        [sys.executable, "-m", "dpharm.bench", *arguments], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def throughput_table(
    rounds: int, repetitions: int, steps: int, threads: int, device: str, models=tuple(MODELS), methods=METHODS
):
    """Every method in a fresh process per round; rounds interleave the methods in time, so a
    burst of load on the machine does not land on one method only. Step time: the median over
    all blocks of all rounds; memory: the largest of the rounds."""

    runs = []
    for round_ in range(rounds):
        for model in models:
            for method in methods:
                run = _child(["--one", method, model, str(repetitions), str(steps), "--threads", str(threads)])
                print(
                    f"round {round_ + 1}/{rounds} {model:6s} {method:13s} "
                    f"{1e3 * statistics.median(run['block_seconds']):8.2f} ms/step",
                    flush=True,
                )
                runs.append(run)
    rows = []
    for (model, method), group in pd.DataFrame(runs).groupby(["model", "method"], sort=False):
        seconds = statistics.median(block for blocks in group.block_seconds for block in blocks)
        first = group.iloc[0]
        rows.append(
            {
                "model": model,
                "method": method,
                "d": first.d,
                "m": first.m,
                "patches": first.patches,
                "classes": first.classes,
                "batch": first.batch,
                "step_ms": 1e3 * seconds,
                "examples_per_s": first.batch / seconds,
                "peak_rss_mb": group.peak_rss_mb.max(),
                "step_memory_mb": group.step_memory_mb.max(),
                "blocks": len(group) * repetitions,
            }
        )
    table = pd.DataFrame(rows)
    base = table[table.method == "nonprivate"].set_index("model")
    table["ratio_to_nonprivate"] = table.step_ms / table.model.map(base.step_ms)
    table["memory_ratio_to_nonprivate"] = table.step_memory_mb / table.model.map(base.step_memory_mb)
    table["device"], table["threads"] = device, threads
    return table


def plot_throughput(table, path: Path) -> None:
    """Examples per second of every method, one panel per model, on a linear axis from 0 (bar
    heights compare honestly), each bar labelled with its step time as a multiple of the
    non-private step's (`ratio_to_nonprivate`), as a PNG at `path`."""

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(table["model"]))
    figure, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False, layout="constrained")
    colours = sns.color_palette("colorblind", len(METHODS))
    for ax, model in zip(axes[0], models, strict=True):
        rows = table[table["model"] == model].set_index("method").reindex(METHODS).dropna(subset=["examples_per_s"])
        positions = range(len(rows))
        ax.bar(positions, rows["examples_per_s"], color=[colours[METHODS.index(m)] for m in rows.index])
        for x, (speed, ratio) in enumerate(zip(rows["examples_per_s"], rows["ratio_to_nonprivate"], strict=True)):
            ax.annotate(f"{ratio:.3g}× time", (x, speed), xytext=(0, 2), textcoords="offset points", ha="center",
                        va="bottom", fontsize=8)  # fmt: skip
        ax.set_xticks(list(positions), [method.replace("-", "\n") for method in rows.index])  # unrotated, apart
        ax.set_ylim(0, rows["examples_per_s"].max() * 1.15)
        ax.set_ylabel("training examples / s")
        ax.set_title(f"{model} model, batch {int(rows['batch'].iloc[0])}", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    figure.suptitle(
        "DP-SGD step throughput on one CPU thread (fixed batch); label: step time relative to non-private", fontsize=10
    )
    figure.savefig(path, format="png", dpi=150)
    plt.close(figure)


def argument_parser() -> argparse.ArgumentParser:
    """The command line of `python -m dpharm.bench`; --one and --grid-job (hidden) start the child
    processes that measure one method or run one grid job."""
    parser = argparse.ArgumentParser(
        prog="python -m dpharm.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python -m dpharm.bench --rounds 1 --skip-grid --models paper (a quick look, a few minutes).",
    )
    add = parser.add_argument
    add("--output", default="results/benchmarks", help="folder for the tables and figure (default: %(default)s)")
    add("--rounds", type=int, default=5, help="fresh processes per method, interleaved in time (default: %(default)s)")
    add("--repetitions", type=int, default=5, help="timed blocks per process, median reported (default: %(default)s)")
    add("--steps", type=int, default=50, help="steps per timed block (default: %(default)s)")
    add("--threads", type=int, default=1, help="torch threads of the throughput runs (default: %(default)s)")
    add(
        "--grid-seeds",
        type=int,
        default=10,
        help="seeds S trained per grid job in dpsgd_grid.csv (default: %(default)s)",
    )
    add("--grid-repetitions", type=int, default=3, help="timed runs of each grid layout (default: %(default)s)")
    add(
        "--grid-steps",
        type=int,
        default=None,
        help="training steps of each grid model (default: config.yaml's training.steps; fewer for a smoke test)",
    )
    add("--skip-grid", action="store_true", help="write the throughput table and figure only, not dpsgd_grid.csv")
    add("--fair", action="store_true", help="only fair_dpsgd_throughput.csv: the fair DP-SGD methods (paper model)")
    add("--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="models to measure (default: all)")
    parser.add_argument("--one", nargs=4, metavar=("METHOD", "MODEL", "REPETITIONS", "STEPS"), help=argparse.SUPPRESS)
    parser.add_argument("--grid-job", nargs="+", metavar="LAYOUT_EPSILONS_STEPS_SEEDS", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Write the throughput table and figure and the grid table; --one and --grid-job are the entry
    points of the child processes that measure one method or run one grid job."""
    parser = argument_parser()
    args = parser.parse_args(argv)
    if args.one:
        configure_torch(args.threads)
        method, model, repetitions, steps = args.one
        print(json.dumps(measure_one(method, model, int(repetitions), int(steps))))
        return
    if args.grid_job:
        layout, epsilons, steps, *seeds = args.grid_job
        levels = [float(epsilon) for epsilon in epsilons.split(",")]
        grid_job(layout, levels, [int(seed) for seed in seeds], int(steps) or None)
        return

    device = device_description(torch.device("cpu"))
    output = Path(args.output)
    if args.fair:
        methods = ("nonprivate", "ours", *fair_methods())
        fair = throughput_table(args.rounds, args.repetitions, args.steps, args.threads, device, ("paper",), methods)
        write_csv(output / "fair_dpsgd_throughput.csv", fair.round(4))
        print(fair.round(2).to_string(index=False))
        return
    throughput = throughput_table(args.rounds, args.repetitions, args.steps, args.threads, device, args.models)
    throughput = throughput.round(4)
    write_csv(output / "dpsgd_throughput.csv", throughput)
    with atomic_path(output / "dpsgd_throughput.png") as tmp:
        plot_throughput(pd.read_csv(output / "dpsgd_throughput.csv"), tmp)  # figures come from the CSV
    print(throughput.round(2).to_string(index=False))
    if not args.skip_grid:
        grid = grid_table(args.grid_seeds, args.grid_repetitions, device, args.grid_steps).round(3)
        write_csv(output / "dpsgd_grid.csv", grid)
        print(grid.round(2).to_string(index=False))
