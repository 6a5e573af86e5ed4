"""Stage 4: one evaluation table per `train_id`: every seed of every condition in it."""

from __future__ import annotations

import pandas as pd
from tqdm import tqdm

from dpharm.data import synthetic as datasets
from dpharm.measurement.metrics import evaluate as measure
from dpharm.measurement.tables import run_rows, write_csv
from dpharm.setup.runtime import configure_torch
from dpharm.training.model import build_model, load_checkpoint
from dpharm.training.privacy import verified_epsilon
from dpharm.training.records import SeedFiles, SeedMetrics
from dpharm.training.settings import ModelSettings


def evaluate(
    files: list[SeedFiles],
    output: str,
    conditions: list[dict],
    experiment: str,
    *,
    threads: int,
    progress: bool = False,
) -> None:
    """Per-group loss, accuracy, FNR and attacks (PGD: the longest part on large data) of every
    run, as one tidy table; with `progress`, a bar counts the models."""

    configure_torch(threads)
    frames = []
    bar = tqdm(total=len(files) * len(conditions), desc=f"evaluate {experiment}", disable=not progress, mininterval=2)
    for seed_files in files:
        arrays = datasets.load(seed_files.dataset, seed_files.raw_images)
        metrics = SeedMetrics.read(seed_files.metrics)
        for condition in conditions:
            params = condition["params"]
            record = verified_epsilon(metrics.record(condition["id"], seed_files.metrics), seed_files.metrics)
            model = build_model(
                ModelSettings.from_config(params["model"]),
                arrays["test_x"].shape[-1],
                datasets.num_classes(arrays),
                seed_files.seed,
            )
            load_checkpoint(seed_files.model, model, condition["id"], seed_files.seed)
            rows = measure(model, arrays, params, record.applied_noise_multiplier)
            frames.append(
                run_rows(
                    rows,
                    experiment=experiment,
                    condition=condition["id"],
                    seed=seed_files.seed,
                    record=record,
                    labels=condition["labels"],
                    dataset=params["data"]["source"],
                )
            )
            bar.update()
    bar.close()
    write_csv(output, pd.concat(frames, ignore_index=True))
