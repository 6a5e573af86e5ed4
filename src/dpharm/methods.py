"""The training methods' names (`training.method`, implemented in `dpharm.fair`) and the config
checks they need, apart from the implementation: the Snakefile reads them at every start,
without importing torch."""

from __future__ import annotations

from typing import Iterable

METHODS = ("dp-sgd", "adaptive-clipping", "bounded-adaptive-clipping", "dpsgd-global-adapt", "dpsgd-f", "fnr-balanced")
GROUP_METHODS = ("dpsgd-f", "fnr-balanced")  # need each training example's group
FAIR_CLAIM = "fair"  # the claim of the experiments that compare them (beyond the paper)


def method_errors(name: str, base: dict, swept: dict) -> Iterable[str]:
    """A fair DP-SGD method needs the fast path; a method by subpopulation needs data with a tail."""

    def values(key):
        section, field = key.split(".", 1)
        return swept.get(key, [base[section][field]])

    methods = [m for m in values("training.method") if m != "dp-sgd"]
    modes = [m for m in values("training.grad_sample_mode") if m != "fast"]
    if methods and modes:
        yield (
            f"config key 'experiments.{name}.training.method': {methods} need grad_sample_mode fast, got {modes} "
            "(the methods change the clipping of dpharm.stacked)"
        )
    grouped = [m for m in methods if m in GROUP_METHODS]
    tails = values("data.tail_frequency") + [t is not None for t in values("data.tail_source")]
    if grouped and "subpopulation" in values("training.groups") and not any(tails):
        yield (
            f"config key 'experiments.{name}.training.groups': subpopulation groups for {grouped}, but the data has "
            "one subpopulation per class (set data.tail_frequency or data.tail_source, or use groups: class)"
        )
