"""Non-private SGD and DP-SGD (through Opacus) for the two-layer CNN (SPEC section 4)."""

from __future__ import annotations

import time
import warnings
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from opacus import PrivacyEngine
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from dpharm.privacy import accountant_epsilon, is_private, noise_multiplier_for, poisson_sample_rate


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


# (x batch, signal positions, generator) -> (batch, views, patches, d); see dpharm.augment
ViewMaker = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def _loader(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int,
            signal_patch: torch.Tensor | None = None) -> DataLoader:
    generator = torch.Generator().manual_seed(derive_seed(seed, "sampling"))
    tensors = (x, y) if signal_patch is None else (x, y, signal_patch)
    return DataLoader(
        TensorDataset(*tensors), batch_size=min(batch_size, len(y)), shuffle=True, generator=generator
    )


def _loss(criterion, logits: torch.Tensor, y: torch.Tensor, ghost: bool) -> torch.Tensor:
    """Cross-entropy; with views, each example's loss is the mean over its views."""
    if logits.dim() == 2:
        return criterion(logits, y)
    batch, views, classes = logits.shape
    flat, targets = logits.reshape(batch * views, classes), y.repeat_interleave(views)
    # Opacus's ghost criterion averages per-view losses back to one loss per example.
    return criterion(flat, targets, shape=(batch, views, classes)) if ghost else criterion(flat, targets)


@torch.no_grad()
def dataset_loss_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, accuracy


def _run_steps(model, optimizer, criterion, loader, steps, device, progress, description, *,
               ghost: bool = False, make_views: ViewMaker | None = None, seed: int = 0) -> None:
    model.train()
    batches = _forever(loader)
    view_generator = torch.Generator().manual_seed(derive_seed(seed, "augmentation"))
    with warnings.catch_warnings():
        # Benign: torch notes that Opacus's backward hooks fire although inputs need no grad.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        for _ in tqdm(range(steps), desc=description, disable=not progress, mininterval=2.0):
            batch = next(batches)
            xb = make_views(batch[0], batch[2], view_generator) if make_views else batch[0]
            optimizer.zero_grad(set_to_none=True)
            _loss(criterion, model(xb.to(device)), batch[1].to(device), ghost).backward()
            optimizer.step()


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def train_nonprivate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, learning_rate: float,
    batch_size: int, seed: int, device: torch.device, progress: bool = False, description: str = "sgd",
    signal_patch: torch.Tensor | None = None, make_views: ViewMaker | None = None,
) -> dict:
    """Plain minibatch SGD (full-batch GD when batch_size >= n)."""
    model.to(device)
    optimizer = torch.optim.SGD(_trainable(model), lr=learning_rate)
    loader = _loader(x, y, batch_size, seed, signal_patch)
    started = time.perf_counter()
    _run_steps(model, optimizer, nn.CrossEntropyLoss(), loader, steps, device, progress, description,
               make_views=make_views, seed=seed)
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
                 noise_multiplier: float, seed: int, device: torch.device,
                 signal_patch: torch.Tensor | None = None) -> PrivateTraining:
    """Wrap model, SGD and a Poisson-sampling loader with Opacus (seeded noise and sampling)."""
    model.to(device)
    loader = _loader(x, y, training["batch_size"], seed, signal_patch)
    noise_generator = torch.Generator(device=device).manual_seed(derive_seed(seed, "dp-noise"))
    with warnings.catch_warnings():
        # Opacus warns that secure_mode is off; reproducible noise needs a seeded generator.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant=training["accountant"])
        private = engine.make_private(
            module=model,
            optimizer=torch.optim.SGD(_trainable(model), lr=training["learning_rate"]),
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
    signal_patch: torch.Tensor | None = None, make_views: ViewMaker | None = None,
) -> dict:
    """DP-SGD through Opacus: Poisson sampling, per-example clipping at C, Gaussian noise.

    The noise multiplier is solved for the target epsilon with the same sampling rate the
    engine accounts with; the epsilon recorded is the one the engine reports after training.
    """
    sample_rate = poisson_sample_rate(len(y), training["batch_size"])
    sigma = noise_multiplier_for(
        training["epsilon"], training["delta"], sample_rate, training["steps"], training["accountant"]
    )
    private = make_private(model, x, y, training=training, noise_multiplier=sigma, seed=seed, device=device,
                           signal_patch=signal_patch)
    started = time.perf_counter()
    _run_steps(private.model, private.optimizer, private.criterion, private.loader, training["steps"],
               device, progress, description, ghost=training["grad_sample_mode"] == "ghost",
               make_views=make_views, seed=seed)
    seconds = time.perf_counter() - started
    private.model.remove_hooks()  # leave a plain module behind for evaluation and saving
    spent = accountant_epsilon(private.engine.accountant, training["accountant"], training["delta"])
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
        "augmentation_multiplicity": training["augmentation_multiplicity"],
        "train_loss": loss,
        "train_accuracy": accuracy,
        "train_seconds": seconds,
    }


def train(model: nn.Module, x, y, *, training: dict, seed: int, device, progress=False, description="",
          signal_patch=None, make_views: ViewMaker | None = None) -> dict:
    """Private or non-private training on the private set, as `training['epsilon']` says.

    With `make_views`, every step trains on augmented views of the sampled examples (needs
    `signal_patch`); the non-private baseline uses the same augmentation.
    """
    views = {"signal_patch": signal_patch, "make_views": make_views}
    if is_private(training["epsilon"]):
        return train_private(model, x, y, training=training, seed=seed, device=device,
                             progress=progress, description=description, **views)
    record = train_nonprivate(
        model, x, y, steps=training["steps"], learning_rate=training["learning_rate"],
        batch_size=training["batch_size"], seed=seed, device=device, progress=progress,
        description=description, **views,
    )
    return {**record, "delta": training["delta"], "accountant": None,
            "augmentation_multiplicity": training["augmentation_multiplicity"]}
