"""The batches a stack (`dpharm.training.stacked`) trains on: every model's sampled examples, padded to
the largest batch, with their views, input Gram matrices and groups where needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from dpharm.training.members import Member, ViewMaker
from dpharm.training.patch_gradients import gram


@dataclass
class Batch:
    """Every model's batch, padded to the largest one."""

    x: torch.Tensor  # (S, B, T, d), T = views * patches
    y: torch.Tensor  # (S, B)
    included: torch.Tensor  # (S, B): 1 for a sampled example, 0 for padding
    sizes: list[int]  # sampled examples per model
    input_grams: torch.Tensor | None  # (S, B, T, T) when known in advance
    groups: torch.Tensor | None = None  # (S, B) each example's group, for the group methods


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Plain SGD's sampling: epochs of a fresh permutation cut into batches (last one shorter)."""
    while True:
        yield from torch.randperm(n, generator=generator).split(batch_size)


def padded_batch(
    members: list[Member],
    indices: list[torch.Tensor],
    view_generators: list,
    make_views: ViewMaker | None,
    input_grams: list[torch.Tensor] | None,
    device: torch.device,
) -> Batch:
    size = max(len(chosen) for chosen in indices)
    _, patches, dimension = members[0].x.shape
    views = 1
    if make_views is not None:
        parts = [
            make_views(m.x[chosen], None if m.signal_patch is None else m.signal_patch[chosen], g)
            for m, chosen, g in zip(members, indices, view_generators, strict=False)
        ]
        views = parts[0].shape[1]
    x = torch.empty(len(members), size, views * patches, dimension, dtype=members[0].x.dtype)
    y = torch.zeros(len(members), size, dtype=torch.long)
    included = torch.zeros(len(members), size, dtype=x.dtype)
    grams = torch.zeros(len(members), size, patches, patches, dtype=x.dtype) if input_grams is not None else None
    groups = torch.zeros(len(members), size, dtype=torch.long) if members[0].groups is not None else None
    for row, (member, chosen) in enumerate(zip(members, indices, strict=False)):
        taken = len(chosen)
        if make_views is not None:
            x[row, :taken] = parts[row].reshape(taken, -1, dimension)
        else:
            torch.index_select(member.x, 0, chosen, out=x[row, :taken])
        x[row, taken:] = 0.0
        y[row, :taken], included[row, :taken] = member.y[chosen], 1.0
        if grams is not None:
            grams[row, :taken] = input_grams[row][chosen]
        if groups is not None:
            groups[row, :taken] = member.groups[chosen]
    return Batch(
        x.to(device),
        y.to(device),
        included.to(device),
        [len(chosen) for chosen in indices],
        None if grams is None else grams.to(device),
        None if groups is None else groups.to(device),
    )


def input_grams(members: list[Member]) -> list[torch.Tensor]:
    by_data = {}
    for member in members:
        if id(member.x) not in by_data:
            by_data[id(member.x)] = gram(member.x)
    return [by_data[id(member.x)] for member in members]
