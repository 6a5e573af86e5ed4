"""The two-layer ReLU CNN of SPEC section 3.

F_c(W, x) = (1/m) sum_r sum_p ReLU(<w_{c,r}, x^(p)>). The first layer is one bias-free
nn.Linear applied to every patch (a convolution whose kernel equals its stride); the second
layer is fixed, so it is arithmetic in `forward`, not a parameter. Only Opacus-supported
layers are used: no BatchNorm and no in-place activation.
"""

from __future__ import annotations

import torch
from torch import nn


class TwoLayerPatchCNN(nn.Module):
    def __init__(self, dimension: int, num_classes: int, width: int):
        super().__init__()
        self.num_classes = num_classes
        self.width = width
        self.filters = nn.Linear(dimension, num_classes * width, bias=False)
        self.activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, patches, dimension) -> logits (batch, classes)."""
        hidden = self.activation(self.filters(x)).sum(dim=1)
        return hidden.view(-1, self.num_classes, self.width).mean(dim=2)

    def filter_bank(self) -> torch.Tensor:
        """First-layer weights as (classes, width, dimension)."""
        return self.filters.weight.view(self.num_classes, self.width, -1)


def build_model(model_params: dict, dimension: int, num_classes: int, seed: int) -> TwoLayerPatchCNN:
    """A model with filters drawn i.i.d. N(0, init_std^2) from the seed."""
    model = TwoLayerPatchCNN(dimension, num_classes, model_params["width"])
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.filters.weight.normal_(0.0, model_params["init_std"], generator=generator)
    return model


def save_checkpoint(path, model: TwoLayerPatchCNN) -> None:
    from dpharm.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save({key: value.cpu() for key, value in model.state_dict().items()}, tmp)


def load_checkpoint(path, model: TwoLayerPatchCNN) -> TwoLayerPatchCNN:
    """Load weights only: `weights_only=True` never unpickles arbitrary objects."""
    from dpharm.io import CorruptFileError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (OSError, RuntimeError, EOFError, KeyError) as err:
        raise CorruptFileError(f"{path}: not a valid checkpoint for this model ({err}); delete it and rerun") from err
    return model
