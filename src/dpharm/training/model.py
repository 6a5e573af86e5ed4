"""The two-layer ReLU CNN of docs/model.md.

F_c(W, x) = (1/m) sum_r sum_p ReLU(<w_{c,r}, x^(p)>). The first layer is a bias-free
linear map applied to every patch (a convolution whose kernel equals its stride); the second
layer is fixed, so it is arithmetic (`patch_logits`), not a parameter. No BatchNorm and no
in-place activation, so every Opacus mode accepts the model.

Freezing keeps some filters of every class in a second, non-trainable layer: Opacus and the
optimiser only see trainable parameters, so frozen filters get no update and no noise.
"""

from __future__ import annotations

import io
import pickle

import torch
from torch import nn

from dpharm.io import atomic_path, unusable_if, unusable_intermediate
from dpharm.training.settings import ModelSettings

PRETRAINED = "pretrained"  # the name of the model in a pre-training checkpoint


def frozen_width(width: int, frozen_fraction: float) -> int:
    """Filters per class that the frozen fraction freezes (rounded to the nearest)."""
    return int(round(frozen_fraction * width))


class PatchFilters(nn.Linear):
    """The first layer: one bias-free linear map applied to every patch, (..., T, d) -> (..., T, K).

    A class of its own so that Opacus's hooks and ghost modes use the closed forms that
    `dpharm.training.stacked` registers for it (Opacus looks its samplers up by exact type).
    """

    def __init__(self, dimension: int, outputs: int):
        super().__init__(dimension, outputs, bias=False)


def patch_logits(
    hidden: torch.Tensor, frozen_hidden: torch.Tensor | None, *, num_classes: int, width: int, patches: int
) -> torch.Tensor:
    """The fixed second layer. hidden: first-layer outputs (N, views * patches, classes * trainable);
    frozen_hidden: the frozen filters' outputs or None -> logits (N, views, classes)."""
    n, tokens = hidden.shape[:2]
    activations = torch.relu(hidden).view(n, tokens, num_classes, -1)
    if frozen_hidden is not None:
        activations = torch.cat([activations, torch.relu(frozen_hidden).view(n, tokens, num_classes, -1)], dim=-1)
    return activations.view(n, -1, patches, num_classes, width).sum(dim=2).mean(dim=-1)


class TwoLayerPatchCNN(nn.Module):
    """F_c(x) = (1/m) sum_r sum_p ReLU(<w_{c,r}, x^(p)>): `frozen` of the m filters of every
    class sit in a non-trainable layer."""

    def __init__(self, dimension: int, num_classes: int, width: int, frozen: int = 0):
        super().__init__()
        self.num_classes, self.width, self.frozen = num_classes, width, frozen
        self.filters = PatchFilters(dimension, num_classes * (width - frozen))
        self.frozen_filters = PatchFilters(dimension, num_classes * frozen).requires_grad_(False) if frozen else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, patches, d) -> logits (batch, classes); or, with k augmented views,
        (batch, k, patches, d) -> (batch, k, classes).

        The views are folded into the patch axis so that Opacus sees one 3-D input per example
        and computes each example's gradient summed over its views.
        """
        flat = x.reshape(x.shape[0], -1, x.shape[-1])  # (batch, views * patches, d)
        frozen = self.frozen_filters(flat) if self.frozen_filters is not None else None
        logits = patch_logits(
            self.filters(flat), frozen, num_classes=self.num_classes, width=self.width, patches=x.shape[-2]
        )
        return logits if x.dim() == 4 else logits[:, 0]

    def filter_bank(self) -> torch.Tensor:
        """All first-layer weights as (classes, width, d), trainable filters first."""
        banks = [self.filters.weight.view(self.num_classes, -1, self.filters.in_features)]
        if self.frozen_filters is not None:
            banks.append(self.frozen_filters.weight.view(self.num_classes, -1, self.filters.in_features))
        return torch.cat(banks, dim=1)


@torch.no_grad()
def per_example_loss_and_correct(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy and 0/1 correctness of every example: the one routine behind the training
    records' loss and accuracy and the evaluation's per-group ones."""
    logits = model(x)
    return nn.functional.cross_entropy(logits, y, reduction="none"), (logits.argmax(dim=1) == y).float()


def loss_and_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean loss and accuracy over the examples."""
    loss, correct = per_example_loss_and_correct(model, x, y)
    return loss.mean().item(), correct.mean().item()


def set_filter_bank(model: TwoLayerPatchCNN, bank: torch.Tensor) -> None:
    """Write (classes, width, d) weights into the trainable and frozen filters."""
    if bank.shape != (model.num_classes, model.width, model.filters.in_features):
        raise ValueError(f"filter bank of shape {tuple(bank.shape)} does not fit this model")
    trainable = model.width - model.frozen
    with torch.no_grad():
        model.filters.weight.copy_(bank[:, :trainable].reshape(-1, bank.shape[-1]))
        if model.frozen_filters is not None:
            model.frozen_filters.weight.copy_(bank[:, trainable:].reshape(-1, bank.shape[-1]))


def build_model(settings: ModelSettings, dimension: int, num_classes: int, seed: int) -> TwoLayerPatchCNN:
    """A model whose filters are drawn i.i.d. N(0, init_std^2) from the seed.

    The draw does not depend on the frozen fraction, so freezing changes only what trains.
    """
    width = settings.width
    model = TwoLayerPatchCNN(dimension, num_classes, width, frozen_width(width, settings.frozen_fraction))
    generator = torch.Generator().manual_seed(seed)
    set_filter_bank(model, torch.randn(num_classes, width, dimension, generator=generator) * settings.init_std)
    return model


def save_checkpoint(path, models: dict[str, TwoLayerPatchCNN], seed: int) -> None:
    """Store each model's whole filter bank under its name (a training job's checkpoint holds
    every noise level of one seed), so a checkpoint loads into any frozen fraction, with the seed
    it was trained at, so that another seed's checkpoint copied over it is refused on loading.

    Saved through a buffer: torch names the archive's folder after the file it writes, and the
    temporary file's name is random, so a direct save would differ byte-wise between reruns.
    """
    buffer = io.BytesIO()
    torch.save(
        {
            "seed": seed,
            "filter_banks": {name: model.filter_bank().detach().cpu().contiguous() for name, model in models.items()},
        },
        buffer,
    )
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_checkpoint(path, model: TwoLayerPatchCNN, name: str, seed: int) -> TwoLayerPatchCNN:
    """Load the weights stored under `name` by the run of `seed`; `weights_only=True` never
    unpickles arbitrary objects. A checkpoint that is not a checkpoint, lacks the model or holds
    another seed's models (copied from another run) is removed (`unusable_intermediate`); one that
    cannot be opened for its permissions is kept (`unusable_if`)."""
    content_errors = (OSError, RuntimeError, EOFError, KeyError, ValueError, TypeError, pickle.UnpicklingError)
    with unusable_if(path, f"no valid model {name!r} for this model", *content_errors):
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved_seed = state["seed"]
        set_filter_bank(model, state["filter_banks"][name])
    if saved_seed != seed:
        raise unusable_intermediate(path, f"holds the models of seed {saved_seed}, not of seed {seed} (copied?)")
    return model
