"""Stage 2: non-private pre-training on the public set, every seed as one stack."""

from __future__ import annotations

from dataclasses import replace

import torch

from dpharm.data import synthetic as datasets
from dpharm.setup.runtime import configure_torch, pick_device
from dpharm.training.members import Member
from dpharm.training.model import PRETRAINED, build_model, save_checkpoint
from dpharm.training.settings import ModelSettings, TrainingSettings
from dpharm.training.stacked import train_stack


def pretrain(
    data_files: list[str],
    outputs: list[str],
    params: dict,
    seeds: list[int],
    *,
    threads: int,
    device: str,
    progress: bool,
    raw_images: str | None = None,
) -> None:
    """Pre-train one model per seed; each checkpoint holds it under `model.PRETRAINED`.
    `raw_images`: the parsed image source the dataset files index (None for synthetic data)."""

    configure_torch(threads)
    # Pre-training trains every filter; freezing applies to the private fine-tuning only.
    model_settings = replace(ModelSettings.from_config(params["model"]), frozen_fraction=0.0)
    members = []
    for seed, data_file in zip(seeds, data_files, strict=True):
        arrays = datasets.load(data_file, raw_images)
        x, y = torch.from_numpy(arrays["public_x"]), torch.from_numpy(arrays["public_y"])
        if len(y) == 0:
            raise ValueError(f"{data_file}: no public examples; set data.n_public > 0 to pre-train")
        members.append(Member(build_model(model_settings, x.shape[-1], datasets.num_classes(arrays), seed), x, y, seed))
    train_stack(
        members,
        training=TrainingSettings.from_config(params["pretraining"]),
        device=pick_device(device),
        progress=progress,
        description=f"pretrain seeds {seeds}",
    )
    for member, path in zip(members, outputs, strict=True):
        save_checkpoint(path, {PRETRAINED: member.model}, member.seed)
