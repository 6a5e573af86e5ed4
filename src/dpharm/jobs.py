"""One function per workflow job; `workflow/scripts/*.py` only pass Snakemake's fields in.

A training job handles every seed and every noise level of one grid point (a stack of
conditions that differ only in epsilon): the ~3 s of importing torch and Opacus is paid once
per stack, and the fast path trains its models as batched stacks.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path

from dpharm.runtime import configure_torch

PRETRAINED = "pretrained"  # the name of the model in a pre-training checkpoint

# Heavy imports (torch, opacus, pandas, seaborn: seconds each) live inside the job functions,
# so each job process pays only for what its stage uses.


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


def _tensors(arrays: dict, split: str):
    import torch

    return torch.from_numpy(arrays[f"{split}_x"]), torch.from_numpy(arrays[f"{split}_y"])


def raw_images(source: str, output: str, download_folder: str, *, mirror: str | None = None,
               sha256: dict | None = None) -> None:
    """Parsed images of one source: the offline digits (split 70/30 by a fixed seed, as they
    ship without a test split) or a downloaded data set verified against pinned checksums."""
    import numpy as np

    from dpharm.io import write_npz
    from dpharm.realdata import fetch_dataset, load_digits_images

    if source == "digits":
        images, labels = load_digits_images()
        order = np.random.default_rng(0).permutation(len(labels))
        cut = int(0.7 * len(labels))
        arrays = {"train_x": images[order[:cut]], "train_y": labels[order[:cut]],
                  "test_x": images[order[cut:]], "test_y": labels[order[cut:]]}
    else:
        arrays = fetch_dataset(source, download_folder, mirror=mirror, checksums=sha256 or None)
    write_npz(output, arrays)


def make_dataset(raw_files: list[str], outputs: list[str], data_params: dict, seeds: list[int]) -> None:
    """Train / test / public sets per seed: synthetic, or split from parsed images."""
    from dpharm import data as datasets
    from dpharm.images import real_splits
    from dpharm.io import read_npz

    if data_params["source"] == "synthetic":
        make = functools.partial(datasets.generate, datasets.SyntheticData(**datasets.synthetic_settings(data_params)))
    else:
        raw = read_npz(raw_files[0], ("train_x", "train_y", "test_x", "test_y"))
        make = functools.partial(real_splits, raw, data_params)
    for seed, path in zip(seeds, outputs, strict=True):
        datasets.save(path, make(seed))


def pretrain(data_files: list[str], outputs: list[str], params: dict, seeds: list[int], *,
             threads: int, device: str, progress: bool) -> None:
    from dpharm import data as datasets
    from dpharm.fastdp import Member, train_stack
    from dpharm.model import build_model, save_checkpoint
    from dpharm.train import pick_device

    configure_torch(threads)
    device = pick_device(device)
    members = []
    for seed, data_file in zip(seeds, data_files, strict=True):
        arrays = datasets.load(data_file)
        x, y = _tensors(arrays, "public")
        if len(y) == 0:
            raise ValueError(f"{data_file}: no public examples; set data.n_public > 0 to pre-train")
        # Pre-training trains every filter; freezing applies to the private fine-tuning only.
        model = build_model({**params["model"], "frozen_fraction": 0.0}, x.shape[-1], datasets.num_classes(arrays), seed)
        members.append(Member(model, x, y, seed))
    train_stack(members, training=params["pretraining"], device=device, progress=progress,
                description=f"pretrain seeds {seeds}")
    for member, path in zip(members, outputs, strict=True):
        save_checkpoint(path, {PRETRAINED: member.model})


def _view_maker(params: dict):
    """The view maker for augmentation multiplicity, or None when k = 1."""
    from dpharm.augment import synthetic_views
    from dpharm.data import SyntheticData, feature_span_size, synthetic_settings

    views = params["training"]["augmentation_multiplicity"]
    if views == 1:
        return None
    return functools.partial(
        synthetic_views, views=views, noise_std=params["data"]["noise_std"],
        feature_span=feature_span_size(SyntheticData(**synthetic_settings(params["data"]))),
    )


def _only_epsilon_differs(runs: list[dict]) -> dict:
    """The settings every run of a stack shares (all but training.epsilon); raises otherwise."""
    def without_epsilon(params):
        return {**params, "training": {**params["training"], "epsilon": None}}

    shared = without_epsilon(runs[0]["params"])
    for run in runs[1:]:
        if without_epsilon(run["params"]) != shared:
            raise ValueError(f"runs {runs[0]['condition']} and {run['condition']} differ in more than "
                             "training.epsilon; they cannot train as one stack")
    return shared


def train_stack_of_conditions(data_files: list[str], pretrained_files: list[str], model_files: list[str],
                              metrics_files: list[str], runs: list[dict], seeds: list[int], *,
                              threads: int, device: str, progress: bool) -> None:
    """Train every seed of every run (condition) of one stack. `runs`: one dict per condition with
    its `condition` id, `params` and `labels`; they differ only in training.epsilon. Each seed's
    checkpoint holds its model of every condition, its metrics file one record per condition."""
    import torch

    from dpharm import data as datasets
    from dpharm.fastdp import Member
    from dpharm.io import write_json
    from dpharm.model import build_model, load_checkpoint, save_checkpoint
    from dpharm.provenance import provenance
    from dpharm.train import pick_device, train_members

    params = _only_epsilon_differs(runs)
    configure_torch(threads)
    device = pick_device(device)
    context = provenance(device, threads)
    starts = pretrained_files or [None] * len(seeds)
    make_views = _view_maker(params)
    members, epsilons = [], []
    for seed, data_file, start in zip(seeds, data_files, starts, strict=True):
        arrays = datasets.load(data_file)
        x, y = _tensors(arrays, "train")
        signal_patch = torch.from_numpy(arrays["train_signal_patch"]) if make_views else None
        for run in runs:
            model = build_model(params["model"], x.shape[-1], datasets.num_classes(arrays), seed)
            if start is not None:
                load_checkpoint(start, model, PRETRAINED)
            members.append(Member(model, x, y, seed, signal_patch))
            epsilons.append(run["params"]["training"]["epsilon"])
    records = train_members(members, epsilons, training=params["training"], device=device, progress=progress,
                            description=f"seeds {seeds}", make_views=make_views)
    for index, (seed, data_file, start, model_file, metrics_file) in enumerate(zip(
        seeds, data_files, starts, model_files, metrics_files, strict=True
    )):
        chunk = slice(index * len(runs), (index + 1) * len(runs))
        save_checkpoint(model_file, {run["condition"]: member.model
                                     for run, member in zip(runs, members[chunk], strict=True)})
        write_json(metrics_file, {
            "seed": seed, "data_file": data_file, "pretrained_from": start, "provenance": context,
            "runs": [{"condition": run["condition"], "labels": run["labels"], "params": run["params"], **record}
                     for run, record in zip(runs, records[chunk], strict=True)],
        })


def evaluate_stack_of_conditions(data_files: list[str], model_files: list[str], metrics_files: list[str],
                                 output: str, runs: list[dict], experiment: str, seeds: list[int], *,
                                 threads: int) -> None:
    """Evaluate every seed of every run (condition) of one stack into one table."""
    import pandas as pd

    from dpharm import data as datasets
    from dpharm.evaluate import evaluate
    from dpharm.io import read_json
    from dpharm.model import build_model, load_checkpoint
    from dpharm.tables import run_rows, write_csv

    configure_torch(threads)
    frames = []
    for seed, data_file, model_file, metrics_file in zip(seeds, data_files, model_files, metrics_files, strict=True):
        arrays = datasets.load(data_file)
        records = {record["condition"]: record for record in read_json(metrics_file)["runs"]}
        for run in runs:
            params, record = run["params"], records[run["condition"]]
            model = build_model(params["model"], arrays["test_x"].shape[-1], datasets.num_classes(arrays), seed)
            load_checkpoint(model_file, model, run["condition"])
            rows = evaluate(model, arrays, params, record["noise_multiplier"])
            frames.append(run_rows(rows, experiment=experiment, condition=run["condition"], seed=seed,
                                   record=record, labels=run["labels"], dataset=params["data"]["source"]))
    write_csv(output, pd.concat(frames, ignore_index=True))


def aggregate_experiment(inputs: list[str], output: str, label_columns: list[str]) -> None:
    from dpharm.tables import aggregate, write_csv

    write_csv(output, aggregate(inputs, label_columns))


def plot_table(table_file: str, name: str, pdf: str, png: str) -> None:
    import pandas as pd

    from dpharm.plots import draw

    draw(name, pd.read_csv(table_file), pdf, png)



def fnr_transition_table(inputs: list[str], output: str) -> None:
    import pandas as pd

    from dpharm.tables import fnr_transition, write_csv

    write_csv(output, fnr_transition([pd.read_csv(path) for path in inputs]))


def judge_claims(inputs: list[str], claims_csv: str, claims_md: str, tests_csv: str, settings: dict) -> None:
    import pandas as pd

    from dpharm.claims import CLAIM_STATEMENTS, audit_tests, render_markdown, run_tests, summarise
    from dpharm.io import write_text
    from dpharm.tables import write_csv

    tables = {Path(path).stem: pd.read_csv(path) for path in inputs}
    audit = tables.pop("privacy_audit", None)
    tests = run_tests(tables, settings["min_effect"], settings["confidence"])
    if audit is not None:
        tests = pd.concat([tests, audit_tests(audit, settings["min_effect"]["audit_power"])], ignore_index=True)
    claims = summarise(tests, CLAIM_STATEMENTS)
    write_csv(tests_csv, tests)
    write_csv(claims_csv, claims)
    write_text(claims_md, render_markdown(claims, tests, settings["confidence"]))


def privacy_audit(output: str, audit: dict, *, progress: bool) -> None:
    import pandas as pd

    from dpharm.audit import run_audit
    from dpharm.tables import write_csv

    write_csv(output, pd.DataFrame(run_audit(audit, progress=progress)))


def write_provenance(output: str, config_hash: str, git: dict, config: dict) -> None:
    from dpharm.io import write_json
    from dpharm.provenance import provenance
    from dpharm.train import pick_device

    record = provenance(pick_device(config["device"]), config["threads"])
    write_json(output, {**record, "git": git, "config_sha256": config_hash})
