"""Splits checked before any job: every (class, subpopulation) group of a condition's training
(and public) split keeps at least one example, computed from the settings alone, so that a
degenerate split is refused naming the key that emptied it (`dpharm.setup.validation` runs it)."""

from __future__ import annotations

from typing import Iterable

from dpharm.data import image_splits, synthetic
from dpharm.setup.plan import Condition, Plan

# Fewest training examples a (class, subpopulation) group may have: a group with none has no
# accuracy or FNR to measure, and its row would be NaN or missing rather than refused.
MIN_GROUP_EXAMPLES = 1
# The settings that size a split's groups, synthetic and images.
SYNTHETIC_SIZE_KEYS = ("data.n_train", "data.num_classes", "data.imbalance_ratio", "data.tail_frequency")
IMAGE_SIZE_KEYS = ("data.classes", "data.public_fraction", "data.minority_fraction", "data.tail_frequency")


def _set_at(config: dict, condition: Condition, key: str) -> str:
    """The config key that gave `condition` its value of `key`: its sweep, its experiment's
    override, or the base setting."""
    if key in condition.grid_point:
        return f"experiments.{condition.experiment}.sweeps.{condition.sweep}.{key}"
    section, setting = key.split(".", 1)
    if setting in config["experiments"][condition.experiment].get(section, {}):
        return f"experiments.{condition.experiment}.{key}"
    return key


def _culprit(data: dict, group: str, split: str) -> str:
    """The setting that most plainly emptied `group`: the tail frequency for a tail, the
    imbalance (minority fraction) for the minority class, else the size of the set."""
    synthetic_data = data["source"] == "synthetic"
    minority = f"class {len(data['classes']) - 1} " if not synthetic_data else f"class {data['num_classes'] - 1} "
    if split == "public":
        return "data.n_public"
    if "tail" in group:
        return "data.tail_frequency"
    if group.startswith(minority):
        return "data.imbalance_ratio" if synthetic_data else "data.minority_fraction"
    return "data.n_train" if synthetic_data else "data.public_fraction"


def _group_sizes(data: dict) -> tuple[dict[str, int], dict[str, int], tuple[str, ...]]:
    """(training sizes, public sizes, keys that set them) of one condition's data."""
    if data["source"] == "synthetic":
        spec = synthetic.SyntheticData(**synthetic.synthetic_settings(data))
        return synthetic.training_group_sizes(spec), synthetic.public_group_sizes(spec), SYNTHETIC_SIZE_KEYS
    return image_splits.training_group_sizes(data), {}, IMAGE_SIZE_KEYS


def split_errors(config: dict) -> Iterable[str]:
    """Splits that leave a group with fewer than MIN_GROUP_EXAMPLES training (or, with a public
    set, public) examples, computed from the settings before any dataset is made; one message
    per experiment, naming the key that emptied the group and every key that sizes it."""
    reported = set()
    for condition in Plan(config).data.values():
        if condition.experiment in reported:
            continue
        data = condition.params["data"]
        training, public, keys = _group_sizes(data)
        for split, sizes, more in (("training", training, ()), ("public", public, ("data.n_public",))):
            short = {group: n for group, n in sizes.items() if n < MIN_GROUP_EXAMPLES}
            if not short:
                continue
            group, n = next(iter(short.items()))
            named = [f"'{_set_at(config, condition, key)}' ({_setting(data, key)})" for key in (*keys, *more)]
            yield (
                f"config key '{_set_at(config, condition, _culprit(data, group, split))}': the {split} split of "
                f"experiment {condition.experiment} (data {condition.data_id}) leaves {group} with {n} examples "
                f"(allowed: at least {MIN_GROUP_EXAMPLES} per group; the sizes follow from {', '.join(named)})"
            )
            reported.add(condition.experiment)
            break


def _setting(data: dict, key: str) -> str:
    return f"{data[key.split('.', 1)[1]]!r}"
