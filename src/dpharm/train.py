"""Non-private SGD and DP-SGD (through Opacus) for the two-layer CNN (SPEC section 4)."""

from __future__ import annotations

import time
import warnings
import zlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from opacus import PrivacyEngine
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from dpharm.privacy import is_private, noise_multiplier_for, poisson_sample_rate


def derive_seed(seed: int, stream: str) -> int:
    """Independent, stable seeds for the random streams of one run (sampling, noise, ...)."""
    return int(np.random.SeedSequence([seed, zlib.crc32(stream.encode())]).generate_state(1)[0])


def pick_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config 'device: cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def _forever(loader: DataLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:
        yield from loader


def _loader(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(derive_seed(seed, "sampling"))
    return DataLoader(
        TensorDataset(x, y), batch_size=min(batch_size, len(y)), shuffle=True, generator=generator
    )


@torch.no_grad()
def dataset_loss_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


def _run_steps(model, optimizer, criterion, loader, steps, device, progress, description) -> None:
    model.train()
    batches = _forever(loader)
    with warnings.catch_warnings():
        # Benign: torch notes that Opacus's backward hooks fire although inputs need no grad.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        for _ in tqdm(range(steps), desc=description, disable=not progress, mininterval=2.0):
            xb, yb = next(batches)
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()


def train_nonprivate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, learning_rate: float,
    batch_size: int, seed: int, device: torch.device, progress: bool = False, description: str = "sgd",
) -> dict:
    """Plain minibatch SGD (full-batch GD when batch_size >= n)."""
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    loader = _loader(x, y, batch_size, seed)
    started = time.perf_counter()
    _run_steps(model, optimizer, nn.CrossEntropyLoss(), loader, steps, device, progress, description)
    loss, accuracy = dataset_loss_accuracy(model, x.to(device), y.to(device))
    return {
        "private": False,
        "epsilon_target": float("inf"),
        "epsilon_spent": float("inf"),
        "noise_multiplier": 0.0,
        "steps": steps,
        "batch_size": min(batch_size, len(y)),
        "train_loss": loss,
        "train_accuracy": accuracy,
        "train_seconds": time.perf_counter() - started,
    }


@dataclass
class PrivateTraining:
    """What Opacus's `make_private` hands back, ready for `_run_steps`."""

    engine: PrivacyEngine
    model: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: nn.Module
    loader: DataLoader
    sample_rate: float


def make_private(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, training: dict,
                 noise_multiplier: float, seed: int, device: torch.device) -> PrivateTraining:
    """Wrap model, SGD and a Poisson-sampling loader with Opacus (seeded noise and sampling)."""
    model.to(device)
    loader = _loader(x, y, training["batch_size"], seed)
    engine = PrivacyEngine(accountant=training["accountant"])
    noise_generator = torch.Generator(device=device).manual_seed(derive_seed(seed, "dp-noise"))
    with warnings.catch_warnings():
        # Opacus warns that secure_mode is off; reproducible noise needs a seeded generator.
        warnings.simplefilter("ignore", UserWarning)
        private = engine.make_private(
            module=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=training["learning_rate"]),
            data_loader=loader,
            criterion=nn.CrossEntropyLoss(),
            noise_multiplier=noise_multiplier,
            max_grad_norm=training["clip_norm"],
            poisson_sampling=True,
            noise_generator=noise_generator,
            grad_sample_mode=training["grad_sample_mode"],
        )
    if training["grad_sample_mode"] == "ghost":
        # Ghost clipping's criterion runs the two backward passes it needs.
        private_model, optimizer, criterion, private_loader = private
    else:
        (private_model, optimizer, private_loader), criterion = private, nn.CrossEntropyLoss()
    sample_rate = poisson_sample_rate(len(y), training["batch_size"])
    if abs(private_loader.sample_rate - sample_rate) > 1e-12:
        raise RuntimeError("Opacus samples at a different rate than the one accounted for")
    return PrivateTraining(engine, private_model, optimizer, criterion, private_loader, sample_rate)


def train_private(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, training: dict, seed: int,
    device: torch.device, progress: bool = False, description: str = "dp-sgd",
) -> dict:
    """DP-SGD through Opacus: Poisson sampling, per-example clipping at C, Gaussian noise.

    The noise multiplier is solved for the target epsilon with the same sampling rate the
    engine accounts with; the epsilon recorded is the one the engine reports after training.
    """
    sample_rate = poisson_sample_rate(len(y), training["batch_size"])
    sigma = noise_multiplier_for(
        training["epsilon"], training["delta"], sample_rate, training["steps"], training["accountant"]
    )
    private = make_private(model, x, y, training=training, noise_multiplier=sigma, seed=seed, device=device)
    started = time.perf_counter()
    _run_steps(private.model, private.optimizer, private.criterion, private.loader, training["steps"],
               device, progress, description)
    seconds = time.perf_counter() - started
    private.model.remove_hooks()  # leave a plain module behind for evaluation and saving
    spent = private.engine.get_epsilon(delta=training["delta"])
    loss, accuracy = dataset_loss_accuracy(model, x.to(device), y.to(device))
    return {
        "private": True,
        "epsilon_target": float(training["epsilon"]),
        "epsilon_spent": float(spent),
        "delta": training["delta"],
        "accountant": training["accountant"],
        "noise_multiplier": float(sigma),
        "sample_rate": sample_rate,
        "expected_batch_size": sample_rate * len(y),
        "clip_norm": training["clip_norm"],
        "grad_sample_mode": training["grad_sample_mode"],
        "steps": training["steps"],
        "train_loss": loss,
        "train_accuracy": accuracy,
        "train_seconds": seconds,
    }


def train(model: nn.Module, x, y, *, training: dict, seed: int, device, progress=False, description="") -> dict:
    """Private or non-private training on the private set, as `training['epsilon']` says."""
    if is_private(training["epsilon"]):
        return train_private(model, x, y, training=training, seed=seed, device=device,
                             progress=progress, description=description)
    record = train_nonprivate(
        model, x, y, steps=training["steps"], learning_rate=training["learning_rate"],
        batch_size=training["batch_size"], seed=seed, device=device, progress=progress,
        description=description,
    )
    return {**record, "delta": training["delta"], "accountant": None}
