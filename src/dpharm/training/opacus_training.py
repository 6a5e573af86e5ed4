"""Non-private SGD and DP-SGD for the two-layer CNN.

`train_members` trains the models of one job, each at its own epsilon. By default
(grad_sample_mode: fast) they train through `dpharm.training.stacked`: the non-private ones as one stack,
the private ones (every noise level) as another; the other modes run Opacus's own per-sample
machinery (make_private) one model at a time, for comparison.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, replace
from typing import Iterator

import torch
from opacus import PrivacyEngine
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm import tqdm

from dpharm.training.members import Member, ViewMaker
from dpharm.training.methods import BASELINE_METHOD
from dpharm.training.model import loss_and_accuracy
from dpharm.training.privacy import accountant_epsilon, is_private, noise_multiplier_for, poisson_sample_rate
from dpharm.training.records import TrainingRecord
from dpharm.training.seeds import derive_seed
from dpharm.training.settings import TrainingSettings, make_optimizer
from dpharm.training.stacked import train_stack


def _forever(loader: DataLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:
        yield from loader


def _loader(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, signal_patch: torch.Tensor | None = None
) -> DataLoader:
    generator = torch.Generator().manual_seed(derive_seed(seed, "sampling"))
    tensors = (x, y) if signal_patch is None else (x, y, signal_patch)
    return DataLoader(TensorDataset(*tensors), batch_size=min(batch_size, len(y)), shuffle=True, generator=generator)


def _loss(criterion, logits: torch.Tensor, y: torch.Tensor, ghost: bool) -> torch.Tensor:
    """Cross-entropy; with views, each example's loss is the mean over its views."""
    if logits.dim() == 2:
        return criterion(logits, y)
    batch, views, classes = logits.shape
    flat, targets = logits.reshape(batch * views, classes), y.repeat_interleave(views)
    # Opacus's ghost criterion averages per-view losses back to one loss per example.
    return criterion(flat, targets, shape=(batch, views, classes)) if ghost else criterion(flat, targets)


def _run_steps(
    model,
    optimizer,
    criterion,
    loader,
    steps,
    device,
    progress,
    description,
    *,
    ghost: bool = False,
    make_views: ViewMaker | None = None,
    seed: int = 0,
) -> None:
    model.train()
    batches = _forever(loader)
    view_generator = torch.Generator().manual_seed(derive_seed(seed, "augmentation"))
    with warnings.catch_warnings():
        # Benign: torch notes that Opacus's backward hooks fire although inputs need no grad.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        for _ in tqdm(range(steps), desc=description, disable=not progress, mininterval=2.0):
            batch = next(batches)
            signal_patch = batch[2] if len(batch) > 2 else None  # synthetic data only
            xb = make_views(batch[0], signal_patch, view_generator) if make_views else batch[0]
            optimizer.zero_grad(set_to_none=True)
            _loss(criterion, model(xb.to(device)), batch[1].to(device), ghost).backward()
            optimizer.step()


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


@dataclass
class PrivateTraining:
    """What Opacus's `make_private` hands back, ready for `_run_steps`."""

    engine: PrivacyEngine
    model: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: nn.Module
    loader: DataLoader
    sample_rate: float


def make_private(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    training: TrainingSettings,
    noise_multiplier: float,
    seed: int,
    device: torch.device,
    signal_patch: torch.Tensor | None = None,
) -> PrivateTraining:
    """Wrap model, SGD and a Poisson-sampling loader with Opacus (seeded noise and sampling)."""
    model.to(device)
    loader = _loader(x, y, training.batch_size, seed, signal_patch)
    noise_generator = torch.Generator(device=device).manual_seed(derive_seed(seed, "dp-noise"))
    with warnings.catch_warnings():
        # Opacus warns that secure_mode is off; reproducible noise needs a seeded generator.
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant=training.accountant)
        private = engine.make_private(
            module=model,
            optimizer=make_optimizer(training.optimizer, _trainable(model), training.learning_rate),
            data_loader=loader,
            criterion=nn.CrossEntropyLoss(),
            noise_multiplier=noise_multiplier,
            max_grad_norm=training.clip_norm,
            poisson_sampling=True,
            noise_generator=noise_generator,
            grad_sample_mode=training.grad_sample_mode,
        )
    if training.grad_sample_mode == "ghost":
        # Ghost clipping's criterion runs the two backward passes it needs.
        private_model, optimizer, criterion, private_loader = private
    else:
        (private_model, optimizer, private_loader), criterion = private, nn.CrossEntropyLoss()
    sample_rate = poisson_sample_rate(len(y), training.batch_size)
    if abs(private_loader.sample_rate - sample_rate) > 1e-12:
        raise RuntimeError("Opacus samples at a different rate than the one accounted for")
    return PrivateTraining(engine, private_model, optimizer, criterion, private_loader, sample_rate)


def train_with_opacus(
    member: Member,
    *,
    training: TrainingSettings,
    device: torch.device,
    progress: bool = False,
    description: str = "dp-sgd",
    make_views: ViewMaker | None = None,
) -> TrainingRecord:
    """DP-SGD of one model through Opacus's own make_private (its hooks, ghost, ew or
    functorch mode): Poisson sampling, per-example clipping at C, Gaussian noise."""
    private = make_private(
        member.model,
        member.x,
        member.y,
        training=training,
        noise_multiplier=member.noise_multiplier,
        seed=member.seed,
        device=device,
        signal_patch=member.signal_patch,
    )
    started = time.perf_counter()
    _run_steps(
        private.model,
        private.optimizer,
        private.criterion,
        private.loader,
        training.steps,
        device,
        progress,
        description,
        ghost=training.grad_sample_mode == "ghost",
        make_views=make_views,
        seed=member.seed,
    )
    seconds = time.perf_counter() - started
    private.model.remove_hooks()  # leave a plain module behind for evaluation and saving
    loss, accuracy = loss_and_accuracy(member.model, member.x.to(device), member.y.to(device))
    return TrainingRecord(
        epsilon_target=float(member.epsilon),
        delta=training.delta,
        steps=training.steps,
        epsilon_spent=accountant_epsilon(private.engine.accountant, training.accountant, training.delta),
        accountant=training.accountant,
        grad_sample_mode=training.grad_sample_mode,
        noise_multiplier=float(member.noise_multiplier),
        private=True,
        train_loss=loss,
        train_accuracy=accuracy,
        train_seconds=seconds,
        models_in_stack=1,
        augmentation_multiplicity=training.augmentation_multiplicity,
        sample_rate=private.sample_rate,
        expected_batch_size=private.optimizer.expected_batch_size,
        clip_norm=training.clip_norm,
    )


def train_members(
    members: list[Member],
    epsilons: list[float],
    *,
    training: TrainingSettings,
    device: torch.device,
    progress: bool = False,
    description: str = "",
    make_views: ViewMaker | None = None,
) -> list[TrainingRecord]:
    """Train every member at its own privacy budget; one record per member, in order.

    Epsilon inf is non-private SGD. A finite epsilon is DP-SGD at the noise multiplier solved for
    it with the sampling rate the accountant uses; the record holds the epsilon the member's
    accountant reports after training. On the fast path the non-private members train as one
    stack and the private ones, every noise level together, as another. With `make_views`,
    every step trains on augmented views of the sampled examples (each member needs its
    `signal_patch`); the non-private baseline uses the same augmentation.
    """
    if len(epsilons) != len(members):
        raise ValueError(f"{len(members)} models but {len(epsilons)} epsilons")
    if training.method != BASELINE_METHOD and training.grad_sample_mode != "fast":
        raise ValueError(f"training.method {training.method} runs on grad_sample_mode fast only")
    options = {"training": training, "device": device, "progress": progress, "make_views": make_views}
    sample_rate = poisson_sample_rate(len(members[0].y), training.batch_size)
    noise = {
        epsilon: noise_multiplier_for(epsilon, training.delta, sample_rate, training.steps, training.accountant)
        for epsilon in set(epsilons)
        if is_private(epsilon)
    }
    budgeted = [
        replace(member, epsilon=float(epsilon), noise_multiplier=noise.get(epsilon))
        for member, epsilon in zip(members, epsilons, strict=True)
    ]
    nonprivate = [index for index, member in enumerate(budgeted) if not member.private]
    private = [index for index, member in enumerate(budgeted) if member.private]
    records: dict[int, TrainingRecord] = {}
    if nonprivate:
        label = f"{description} sgd, non-private ({len(nonprivate)} models)"
        done = train_stack([budgeted[i] for i in nonprivate], description=label, **options)
        records.update(zip(nonprivate, done, strict=True))
    if private and training.grad_sample_mode == "fast":
        budgets = ", ".join(f"{e:g}" for e in sorted({budgeted[i].epsilon for i in private}, reverse=True))
        label = f"{description} {training.method} epsilon {budgets} ({len(private)} models)"
        done = train_stack([budgeted[i] for i in private], description=label, **options)
        records.update(zip(private, done, strict=True))
    elif private:
        records.update((i, train_with_opacus(budgeted[i], description=description, **options)) for i in private)
    return [records[index] for index in range(len(members))]
