"""Validate the workflow configuration: its JSON schema, then the checks the schema cannot
express (grid keys, dimensions, registered experiments and methods, job sizes).

Validation uses `jsonschema` directly (rather than `snakemake.utils.validate`) so that every
error names the offending key as a dotted path and says what is allowed, and so that all
errors are reported at once.
"""

from __future__ import annotations

import math
import os
from typing import Iterable

import jsonschema

from dpharm.claims.rules import BROKEN_MECHANISMS
from dpharm.experiments import REGISTRY, claim_tests, configurable_names
from dpharm.setup.budget import budget_errors
from dpharm.setup.config import EPSILON_KEY, ConfigError, load_schema, resolve_sections
from dpharm.setup.grids import PAIRED, grid_axes
from dpharm.setup.split_checks import split_errors
from dpharm.training.methods import method_errors, method_names


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def _allowed(error: jsonschema.ValidationError) -> str:
    """Say what the schema allows at the failing position."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    parts = []
    if "description" in schema:
        parts.append(schema["description"].strip().rstrip("."))
    for keyword in ("type", "enum", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        if keyword in schema:
            parts.append(f"{keyword}: {schema[keyword]}")
    if error.validator == "additionalProperties" and "properties" in schema:
        parts.append(f"allowed keys: {sorted(schema['properties'])}")
    return "; ".join(parts)


def _is_strict_integer(checker, instance) -> bool:
    # JSON Schema counts 40.0 as an integer; the pipeline's counts (steps, batch sizes, widths)
    # feed range() and tensor shapes, where a float crashes a job long after validation.
    return isinstance(instance, int) and not isinstance(instance, bool)


# Draft 2020-12 with `integer` meaning a YAML integer (40), never a float with no fraction (40.0).
StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)


def _reads_as_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


def _is_whole_float(value, expected) -> bool:
    wants_integer = expected == "integer" or (isinstance(expected, list) and "integer" in expected)
    return wants_integer and isinstance(value, float) and value.is_integer()


def _format(error: jsonschema.ValidationError) -> str:
    # oneOf/allOf errors are vague on their own; their most specific sub-error is clearer.
    best = jsonschema.exceptions.best_match([error])
    allowed = _allowed(best)
    message = f"config key '{_key_path(best)}': {best.message}"
    if best.validator == "type" and _reads_as_number(best.instance):
        message += " (YAML 1.1 reads a number such as 1e-5 as a string: write 1.0e-5)"
    if best.validator == "type" and _is_whole_float(best.instance, best.validator_value):
        message += f" (a count: write {int(best.instance)}, without .0)"
    return f"{message} (allowed: {allowed})" if allowed else message


def _schema_errors(config: dict, schema: dict) -> list[str]:
    validator = StrictValidator(schema)
    return [
        _format(err) for err in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path).__repr__())
    ]


def _paired_errors(where: str, grid: dict) -> Iterable[str]:
    """`paired` names keys of its grid, two or more, whose value lists have one length."""
    axes, paired = grid_axes(grid), grid.get(PAIRED, [])
    unknown = [key for key in paired if key not in axes]
    if unknown:
        yield f"config key '{where}.{PAIRED}': {unknown} are not swept in this grid (allowed: {sorted(axes)})"
    elif len({len(axes[key]) for key in paired}) > 1:
        lengths = {key: len(axes[key]) for key in paired}
        yield f"config key '{where}.{PAIRED}': paired keys need value lists of one length, got {lengths}"


def _grid_errors(name: str, sweep: str, grid: dict, base: dict, defs: dict) -> Iterable[str]:
    where = f"experiments.{name}.sweeps.{sweep}"
    yield from _paired_errors(where, grid)
    for key, values in grid_axes(grid).items():
        section, field = key.split(".", 1)
        if field not in base[section]:
            yield f"config key '{where}.{key}': unknown key (allowed: {sorted(base[section])} of section '{section}')"
            continue
        field_schema = {"$defs": defs, **defs[section]["properties"][field]}
        for value in values:
            for err in StrictValidator(field_schema).iter_errors(value):
                whole = _is_whole_float(value, err.validator_value)
                hint = f" (a count: write {int(value)}, without .0)" if whole else ""
                yield f"config key '{where}.{key}': value {value!r}: {err.message}{hint}"


def _image_errors(name: str, base: dict, swept: dict) -> Iterable[str]:
    """Constraints of image experiments: a tail from outside the classes, public data of
    another source than the private one."""
    data = base["data"]
    sources = swept.get("data.source", [data["source"]])
    for public in swept.get("data.public_source", [data["public_source"]]):
        if public is not None and public in sources:
            yield (
                f"config key 'experiments.{name}.data.public_source': {public} is also the private source, so its "
                "public set would hold the private and test images (allowed: another source, or null)"
            )
    if data["tail_source"] is not None and data["tail_source"] in data["classes"]:
        yield (
            f"config key 'experiments.{name}.data.tail_source': {data['tail_source']} is already one of the classes "
            f"{data['classes']} (allowed: a label outside them, or null)"
        )
    if data["tail_source"] is not None and any(
        f == 0 for f in swept.get("data.tail_frequency", [data["tail_frequency"]])
    ):
        yield f"config key 'experiments.{name}.data.tail_frequency': must be above 0 when tail_source is set"


def _semantic_errors(config: dict, schema: dict) -> Iterable[str]:
    """Constraints JSON schema cannot express: grid keys and values, feature dimensions."""
    defs = schema["$defs"]
    thresholds = config["claims"]["min_effect"]
    registered = {test.name for test in claim_tests()} | {"audit_power"}
    for key in sorted(set(thresholds) - registered):
        yield f"config key 'claims.min_effect.{key}': not a registered test (allowed: {sorted(registered)})"
    enabled = {name for name, experiment in config["experiments"].items() if experiment["enabled"]}
    for test in claim_tests():
        if test.experiment in enabled and test.name not in thresholds:
            yield f"config key 'claims.min_effect.{test.name}': missing; the {test.experiment} test needs a threshold"
    for name, experiment in config["experiments"].items():
        if name not in configurable_names():
            yield f"config key 'experiments.{name}': not a registered experiment (allowed: {configurable_names()})"
            continue
        base = resolve_sections(config, experiment)
        swept = {key: values for grid in experiment["sweeps"].values() for key, values in grid_axes(grid).items()}
        yield from _sweep_shape_errors(name, experiment, defs)
        yield from _delta_errors(name, base, swept)
        for sweep, grid in experiment["sweeps"].items():
            yield from _grid_errors(name, sweep, grid, base, defs)
            for problem in REGISTRY[name].sweep_errors(sweep, grid_axes(grid), grid.get(PAIRED, [])):
                yield f"config key 'experiments.{name}.sweeps.{sweep}': {problem}"
        yield from method_errors(name, base, swept)
        data = base["data"]
        if data["source"] != "synthetic" or any(v != "synthetic" for v in swept.get("data.source", [])):
            yield from _image_errors(name, base, swept)
            continue
        has_tail = data["tail_frequency"] > 0 or any(v > 0 for v in swept.get("data.tail_frequency", []))
        needed = 2 * data["num_classes"] * (2 if has_tail else 1)
        if data["dimension"] < needed:
            yield (
                f"config key 'experiments.{name}.data.dimension': {data['dimension']} is too small "
                f"(allowed: at least {needed} = 2 x classes x subpopulations orthogonal features)"
            )
        model = base["model"]
        for width in swept.get("model.width", [model["width"]]):
            for fraction in swept.get("model.frozen_fraction", [model["frozen_fraction"]]):
                if (
                    isinstance(width, int)
                    and isinstance(fraction, (int, float))
                    and width - round(fraction * width) < 1
                ):
                    yield (
                        f"config key 'experiments.{name}.model.frozen_fraction': {fraction} of width {width} "
                        "freezes every filter (allowed: leave at least one trainable filter per class)"
                    )


# Finite budgets for which Opacus's noise search is known to end with a usable noise multiplier.
EPSILON_RANGE = (0.01, 1000.0)
LARGEST_SEED = 2**63 - 1  # numpy and torch seeds are 64-bit


def _numbers(value, where: str):
    """(dotted key, number) of every number in a nested config value (booleans are not numbers)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item, where)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield where, value


def _is_epsilon(where: str) -> bool:
    """The base setting, an experiment's override, or a sweep's values of training.epsilon."""
    return where == EPSILON_KEY or where.endswith(f".{EPSILON_KEY}")


def _value_errors(config: dict) -> Iterable[str]:
    """Numbers the schema accepts but the pipeline cannot use: non-finite ones (epsilon may be
    +inf, the non-private baseline), budgets outside the noise search's range, seeds that are
    not 64-bit integers."""
    for where, number in _numbers(config, ""):
        if math.isnan(number):
            yield f"config key '{where}': NaN is not a value (allowed: a finite number)"
        elif _is_epsilon(where):
            low, high = EPSILON_RANGE
            if not (math.isinf(number) and number > 0) and not low <= number <= high:
                yield (f"config key '{where}': epsilon {number!r} is outside [{low:g}, {high:g}] "
                       "(allowed: a finite budget in that range, or .inf for the non-private baseline)")  # fmt: skip
        elif math.isinf(number):
            yield f"config key '{where}': {number!r} is not finite (allowed: a finite number; only epsilon may be .inf)"
    for seed in config.get("seeds", []) if isinstance(config.get("seeds"), list) else []:
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= LARGEST_SEED:
            yield f"config key 'seeds': {seed!r} is not a seed (allowed: integers 0 to 2^63 - 1, without .0)"


def _workdir_errors(config: dict) -> Iterable[str]:
    """The working folder must be a folder of the repository: the Snakefile joins it to its own
    folder, so an absolute path or one climbing out with '..' would write results/ (and remove
    unfinished files there) in another checkout or anywhere on the machine."""
    workdir = config.get("workdir")
    if not isinstance(workdir, str):
        return
    climbs = os.path.normpath(workdir).split(os.sep)[0] == ".."
    if os.path.isabs(workdir) or climbs:
        yield (
            f"config key 'workdir': {workdir!r} is outside the repository (allowed: a relative folder inside it, "
            "such as '.' or 'runs/small')"
        )


def _sweep_shape_errors(name: str, experiment: dict, defs: dict) -> Iterable[str]:
    """Sweeps the tables cannot tell apart: one setting name swept in two sections (both would land
    in one column), and list-valued settings (a grid value must be one scalar)."""
    where = f"experiments.{name}.sweeps"
    keys = list(dict.fromkeys(key for grid in experiment["sweeps"].values() for key in grid_axes(grid)))
    by_leaf: dict[str, list[str]] = {}
    for key in keys:
        by_leaf.setdefault(key.split(".", 1)[1], []).append(key)
    for leaf, same in by_leaf.items():
        if len(same) > 1:
            yield f"config key '{where}': {same} are all swept as '{leaf}' (allowed: sweep one of them per experiment)"
    for key in keys:
        section, setting = key.split(".", 1)
        if defs.get(section, {}).get("properties", {}).get(setting, {}).get("type") == "array":
            yield f"config key '{where}': '{key}' holds a list and cannot be swept (allowed: scalar settings)"


def _delta_errors(name: str, base: dict, swept: dict) -> Iterable[str]:
    """delta must stay below 1/n for every training set size the experiment trains on (synthetic
    data; an image split's size is known only once it is made)."""
    if base["data"]["source"] != "synthetic":
        return
    smallest = min(swept.get("data.n_train", [base["data"]["n_train"]]))
    for delta in swept.get("training.delta", [base["training"]["delta"]]):
        if delta >= 1 / smallest:
            yield (f"config key 'experiments.{name}.training.delta': {delta:g} is not below 1/n = {1 / smallest:g} "
                   f"for n_train {smallest} (allowed: delta < 1/n)")  # fmt: skip


def registered_schema() -> dict:
    """The config schema with the registered training methods as `training.method`'s values and,
    with the deliberately broken controls, as the privacy audit's mechanisms."""
    schema = load_schema()
    schema["$defs"]["training"]["properties"]["method"]["enum"] = method_names()
    mechanisms = schema["$defs"]["privacy_audit"]["properties"]["mechanisms"]["items"]
    mechanisms["enum"] = [*method_names(), *BROKEN_MECHANISMS]
    return schema


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Raise ConfigError listing every problem; return the config unchanged when valid."""
    schema = schema or registered_schema()
    errors = _schema_errors(config, schema) + list(_value_errors(config)) + list(_workdir_errors(config))
    if not errors:
        errors = list(_semantic_errors(config, schema))
    if not errors:  # the split sizes and the job sizes need a config that expands into a plan
        errors = list(split_errors(config)) + budget_errors(config)
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    return config
