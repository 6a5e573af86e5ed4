"""A sweep's grid: section.key -> values, expanded as a product, except for `paired` keys, whose
lists are taken position by position."""

from __future__ import annotations

import itertools
from typing import Iterator

PAIRED = "paired"  # a grid's keys whose values go together, position by position, not in a product


def grid_axes(grid: dict) -> dict[str, list]:
    """The section.key -> values of a sweep's grid, without its `paired` list."""
    return {key: values for key, values in grid.items() if key != PAIRED}


def grid_points(grid: dict) -> Iterator[dict]:
    """Every point of a grid: the product of its keys' values, except that `paired` keys take
    their i-th values together (width 5 with learning rate 2.5, width 20 with 10, ...)."""
    axes, paired = grid_axes(grid), grid.get(PAIRED, [])
    groups, placed = [], False  # the paired keys form one group, where the first of them stands
    for key in axes:
        if key not in paired:
            groups.append([key])
        elif not placed:
            groups.append(list(paired))
            placed = True
    choices = [list(zip(*(axes[key] for key in group), strict=True)) for group in groups]
    for combination in itertools.product(*choices):
        point = {}
        for group, values in zip(groups, combination, strict=True):
            point.update(zip(group, values, strict=True))
        yield {key: point[key] for key in axes}
