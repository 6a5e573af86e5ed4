"""One function per workflow job; `workflow/scripts/*.py` only pass Snakemake's fields in.

A training job handles every seed of one grid point so that the ~3 s of importing torch and
Opacus is paid once per grid point, not once per run.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import pandas as pd
import torch

from dpharm import data as synthetic
from dpharm.evaluate import evaluate
from dpharm.io import read_json, write_json
from dpharm.model import build_model, load_checkpoint, save_checkpoint
from dpharm.plots import draw
from dpharm.provenance import provenance
from dpharm.tables import aggregate, run_rows, write_csv
from dpharm.train import pick_device, train, train_nonprivate


@contextlib.contextmanager
def logging_to(path: str | None):
    """Send stderr (progress bars, warnings) and logging to the job's log file."""
    if path is None:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log, contextlib.redirect_stderr(log):
        logging.basicConfig(stream=log, level=logging.INFO, force=True)
        yield


def _tensors(arrays: dict, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(arrays[f"{split}_x"]), torch.from_numpy(arrays[f"{split}_y"])


def make_synthetic_data(outputs: list[str], data_params: dict, seeds: list[int]) -> None:
    spec = synthetic.SyntheticData(**data_params)
    for seed, path in zip(seeds, outputs, strict=True):
        synthetic.save(path, synthetic.generate(spec, seed))


def pretrain(data_files: list[str], outputs: list[str], params: dict, seeds: list[int], *,
             threads: int, device: str, progress: bool) -> None:
    torch.set_num_threads(threads)
    device = pick_device(device)
    for seed, data_file, path in zip(seeds, data_files, outputs, strict=True):
        arrays = synthetic.load(data_file)
        x, y = _tensors(arrays, "public")
        if len(y) == 0:
            raise ValueError(f"{data_file}: no public examples; set data.n_public > 0 to pre-train")
        model = build_model(params["model"], x.shape[-1], arrays["features"].shape[0], seed)
        pre = params["pretraining"]
        train_nonprivate(model, x, y, steps=pre["steps"], learning_rate=pre["learning_rate"],
                         batch_size=pre["batch_size"], seed=seed, device=device, progress=progress,
                         description=f"pretrain seed {seed}")
        save_checkpoint(path, model)


def train_condition(data_files: list[str], pretrained_files: list[str], model_files: list[str],
                    metrics_files: list[str], params: dict, grid_point: dict, seeds: list[int], *,
                    threads: int, device: str, progress: bool) -> None:
    torch.set_num_threads(threads)
    device = pick_device(device)
    context = provenance(device, threads)
    starts = pretrained_files or [None] * len(seeds)
    for seed, data_file, start, model_file, metrics_file in zip(
        seeds, data_files, starts, model_files, metrics_files, strict=True
    ):
        arrays = synthetic.load(data_file)
        x, y = _tensors(arrays, "train")
        model = build_model(params["model"], x.shape[-1], arrays["features"].shape[0], seed)
        if start is not None:
            load_checkpoint(start, model)
        record = train(model, x, y, training=params["training"], seed=seed, device=device,
                       progress=progress, description=f"seed {seed}")
        save_checkpoint(model_file, model)
        write_json(metrics_file, {"seed": seed, "grid_point": grid_point, "params": params,
                                  "data_file": data_file, "pretrained_from": start,
                                  **record, "provenance": context})


def evaluate_condition(data_files: list[str], model_files: list[str], metrics_files: list[str],
                       output: str, params: dict, experiment: str, condition: str,
                       grid_point: dict, seeds: list[int], *, threads: int) -> None:
    torch.set_num_threads(threads)
    frames = []
    for seed, data_file, model_file, metrics_file in zip(
        seeds, data_files, model_files, metrics_files, strict=True
    ):
        arrays = synthetic.load(data_file)
        record = read_json(metrics_file)
        model = build_model(params["model"], arrays["test_x"].shape[-1], arrays["features"].shape[0], seed)
        load_checkpoint(model_file, model)
        rows = evaluate(model, arrays, params, record["noise_multiplier"])
        frames.append(run_rows(rows, experiment=experiment, condition=condition, seed=seed,
                               record=record, grid_point=grid_point))
    write_csv(output, pd.concat(frames, ignore_index=True))


def aggregate_experiment(inputs: list[str], output: str, grid_keys: list[str]) -> None:
    write_csv(output, aggregate(inputs, [key.split(".", 1)[1] for key in grid_keys]))


def plot_experiment(table_file: str, experiment: str, pdf: str, png: str) -> None:
    draw(experiment, pd.read_csv(table_file), pdf, png)

