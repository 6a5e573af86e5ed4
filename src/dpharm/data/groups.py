"""The groups the tables report, by name: every test example ('all'), one class ('class1'), or
one subpopulation of a class ('class1/tail'). Names are built and read here only, so a table,
a test and a figure agree on them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ALL = "all"
SUBPOPULATION_NAMES = ("head", "tail")
_CLASS = re.compile(r"class(\d+)")


def group_name(label: int, subpopulation: int | None = None) -> str:
    """'class1', or with a subpopulation index 'class1/tail'."""
    name = f"class{label}"
    return name if subpopulation is None else f"{name}/{SUBPOPULATION_NAMES[subpopulation]}"


def head(label: int = 0) -> str:
    """The common subpopulation of a class: 'class0/head'."""
    return group_name(label, 0)


def tail(label: int = 0) -> str:
    """The long-tailed subpopulation of a class: 'class0/tail'."""
    return group_name(label, 1)


def class_label(name: str) -> int | None:
    """The class of a whole-class group name ('class7' -> 7); None for 'all' or a subpopulation."""
    match = _CLASS.fullmatch(name)
    return None if match is None else int(match.group(1))


def identity(name: str) -> tuple[int | None, str | None]:
    """(class, subpopulation) of a group name: 'class1/tail' -> (1, 'tail'), 'class1' -> (1, None),
    'all' -> (None, None)."""
    whole, _, subpopulation = name.partition("/")
    return class_label(whole), subpopulation or None


def classes(names: Iterable[str]) -> list[str]:
    """The whole-class groups among `names`, in the order of their class labels."""
    return sorted((name for name in set(names) if class_label(name) is not None), key=class_label)


def source_labels(classes: list[int], tail_source: int | None) -> dict[str, int]:
    """Group name -> the label it has in the image source: class c is label classes[c]; with a
    tail source, class 0's head is classes[0] and its tail tail_source, and the whole class 0,
    which mixes the two, has none."""
    labels = {group_name(c): label for c, label in enumerate(classes)}
    if tail_source is not None:
        labels.pop(group_name(0))
        labels.update({head(): classes[0], tail(): tail_source})
        labels.update({group_name(c, 0): label for c, label in enumerate(classes) if c > 0})
    return labels
