"""The grid part of `python -m dpharm.bench`: wall time of training the seeds and noise levels of
one grid point as the workflow's jobs do, start-up included (dpsgd_grid.csv)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import replace

import pandas as pd
import torch

from dpharm.data.synthetic import SyntheticData, generate, synthetic_settings
from dpharm.setup.config import REPO_ROOT, load_yaml
from dpharm.setup.runtime import configure_torch
from dpharm.training.members import Member
from dpharm.training.model import build_model
from dpharm.training.opacus_training import train_members
from dpharm.training.settings import ModelSettings, TrainingSettings


def grid_job(layout: str, epsilons: list[float], seeds: list[int], steps: int | None = None) -> None:
    """One training job as the workflow runs it: import, data for every seed, train every seed
    at every epsilon (for `steps`, default the configuration's), done.

    layout: 'stack' (ours, every model of the job as one stack per privacy regime, as the
    workflow trains), 'fast-sequential' (ours, one model after another) or 'ghost-sequential'
    (Opacus ghost clipping, one model after another).
    """

    configure_torch(1)
    config = load_yaml(REPO_ROOT / "config.yaml")
    mode = "ghost" if layout == "ghost-sequential" else "fast"
    training = TrainingSettings.from_config(config["training"])
    training = replace(training, grad_sample_mode=mode, steps=steps or training.steps)
    model_settings = ModelSettings.from_config(config["model"])
    settings = SyntheticData(**synthetic_settings(config["data"]))
    members, levels = [], []
    for seed in seeds:
        arrays = generate(settings, seed)
        x, y = torch.from_numpy(arrays["train_x"]), torch.from_numpy(arrays["train_y"])
        for epsilon in epsilons:
            members.append(Member(build_model(model_settings, x.shape[-1], 2, seed), x, y, seed))
            levels.append(epsilon)
    if layout == "stack":
        train_members(members, levels, training=training, device=torch.device("cpu"))
    else:
        for member, epsilon in zip(members, levels, strict=False):
            train_members([member], [epsilon], training=training, device=torch.device("cpu"))


def _timed_jobs(jobs: list[tuple[list[int], list[float]]], layout: str, steps: int | None) -> float:
    started = time.perf_counter()
    for seeds, epsilons in jobs:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dpharm.bench",
                "--grid-job",
                layout,
                ",".join(map(str, epsilons)),
                str(steps or 0),
                *map(str, seeds),
            ],
            check=True,
        )
    return time.perf_counter() - started


ONE_LEVEL, NOISE_LEVELS = (4.0,), (8.0, 4.0, 2.0)
ONE_AT_A_TIME, SEEDS_STACKED = "one model at a time", "all seeds as one stack"
# (method, layout of a job, how the models are split into jobs, noise levels, how a job trains them)
GRID_LAYOUTS = (
    ("ours", "stack", "one job", ONE_LEVEL, SEEDS_STACKED),
    ("ours", "fast-sequential", "one job", ONE_LEVEL, ONE_AT_A_TIME),
    ("ours", "fast-sequential", "one job per seed", ONE_LEVEL, ONE_AT_A_TIME),
    ("opacus-ghost", "ghost-sequential", "one job", ONE_LEVEL, ONE_AT_A_TIME),
    ("opacus-ghost", "ghost-sequential", "one job per seed", ONE_LEVEL, ONE_AT_A_TIME),
    ("ours", "stack", "one job", NOISE_LEVELS, "all seeds and noise levels as one stack"),
    ("ours", "stack", "one job per noise level", NOISE_LEVELS, SEEDS_STACKED),
)


def _split(jobs: str, seeds: list[int], epsilons: tuple[float, ...]) -> list[tuple[list[int], list[float]]]:
    if jobs == "one job per seed":
        return [([seed], list(epsilons)) for seed in seeds]
    if jobs == "one job per noise level":
        return [(seeds, [epsilon]) for epsilon in epsilons]
    return [(seeds, list(epsilons))]


def grid_table(seeds: int, repetitions: int, device: str, steps: int | None = None):
    """S seeds of the default synthetic grid point at epsilon 4, in one job or one job each; and
    S seeds at three noise levels, in one job or one job per noise level; each model trained for
    `steps` (default: the configuration's)."""

    rows = []
    for method, layout, jobs, epsilons, training in GRID_LAYOUTS:
        split = _split(jobs, list(range(seeds)), epsilons)
        wall = statistics.median(_timed_jobs(split, layout, steps) for _ in range(repetitions))
        levels = ",".join(f"{epsilon:g}" for epsilon in epsilons)
        print(f"{method:13s} {jobs:23s} {training:39s} epsilon {levels:6s} {wall:6.1f} s", flush=True)
        rows.append(
            {
                "method": method,
                "jobs": jobs,
                "training": training,
                "seeds": seeds,
                "epsilons": levels,
                "processes": len(split),
                "wall_s": wall,
            }
        )
    table = pd.DataFrame(rows)
    # against the same models (seeds x noise levels) trained by our method in the most jobs
    ours = table[table.method == "ours"]
    separate = ours.loc[ours.groupby("epsilons").processes.idxmax()].set_index("epsilons").wall_s
    table["ratio_to_separate_jobs"] = table.wall_s / table.epsilons.map(separate)
    table["device"], table["repetitions"] = device, repetitions
    # a smoke test's few steps stay visible in the table it writes
    table["steps"] = steps or load_yaml(REPO_ROOT / "config.yaml")["training"]["steps"]
    return table
