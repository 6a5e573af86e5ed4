"""Stage 3: one training job per `train_id`: every seed of every condition (noise level) in it."""

from __future__ import annotations

import torch

from dpharm.data import synthetic as datasets
from dpharm.setup.provenance import provenance
from dpharm.setup.runtime import configure_torch, pick_device
from dpharm.training.augment import view_maker
from dpharm.training.fair import training_groups
from dpharm.training.members import Member
from dpharm.training.methods import training_method
from dpharm.training.model import PRETRAINED, build_model, load_checkpoint, save_checkpoint
from dpharm.training.opacus_training import train_members
from dpharm.training.records import Run, SeedFiles, SeedMetrics
from dpharm.training.settings import ModelSettings, TrainingSettings


def train(
    files: list[SeedFiles], conditions: list[dict], *, threads: int, device: str, progress: bool, description: str
) -> None:
    """Train every seed at every condition. `conditions`: one dict per condition with its `id`,
    `params` and `labels`; they differ only in training.epsilon (the plan groups them so). Each
    seed's checkpoint holds its model of every condition, its metrics file one run per condition."""

    shared = conditions[0]["params"]  # every setting but epsilon is the same in all of them
    configure_torch(threads)
    torch_device = pick_device(device)
    make_views = view_maker(shared)
    model_settings = ModelSettings.from_config(shared["model"])
    training = TrainingSettings.from_config(shared["training"])
    members, epsilons = [], []
    for seed_files in files:
        arrays = datasets.load(seed_files.dataset, seed_files.raw_images)
        x, y = torch.from_numpy(arrays["train_x"]), torch.from_numpy(arrays["train_y"])
        # the synthetic views need the signal's position; image views need only the pixels
        signal_patch = torch.from_numpy(arrays["train_signal_patch"]) if "train_signal_patch" in arrays else None
        groups, num_groups = (
            training_groups(arrays, training.groups) if training_method(training.method).needs_groups else (None, 0)
        )
        for condition in conditions:
            model = build_model(model_settings, x.shape[-1], datasets.num_classes(arrays), seed_files.seed)
            if seed_files.pretrained is not None:
                load_checkpoint(seed_files.pretrained, model, PRETRAINED, seed_files.seed)
            members.append(Member(model, x, y, seed_files.seed, signal_patch, groups=groups, num_groups=num_groups))
            epsilons.append(condition["params"]["training"]["epsilon"])
    records = train_members(
        members,
        epsilons,
        training=training,
        device=torch_device,
        progress=progress,
        description=description,
        make_views=make_views,
    )
    context = provenance(torch_device, threads)
    per_seed = len(conditions)
    for index, seed_files in enumerate(files):
        chunk = slice(index * per_seed, (index + 1) * per_seed)
        models = {c["id"]: m.model for c, m in zip(conditions, members[chunk], strict=True)}
        save_checkpoint(seed_files.model, models, seed_files.seed)
        runs = [
            Run(c["id"], c["labels"], c["params"], record) for c, record in zip(conditions, records[chunk], strict=True)
        ]
        SeedMetrics(seed_files.seed, seed_files.dataset, seed_files.pretrained, context, runs).write(seed_files.metrics)
