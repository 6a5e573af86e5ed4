"""Load and validate the workflow configuration against its JSON schema.

Validation uses `jsonschema` directly (rather than `snakemake.utils.validate`) so that every
error names the offending key as a dotted path and says what is allowed, and so that all
errors are reported at once.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterable

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
SECTIONS = ("data", "model", "pretraining", "training", "evaluation")


class ConfigError(ValueError):
    """The configuration does not satisfy the schema or the workflow's constraints."""


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """The JSON schema, stored as YAML (workflow/schemas/config.schema.yaml)."""
    return yaml.safe_load(path.read_text())


def load_yaml(path: str | Path) -> dict:
    """Read a YAML configuration file, turning syntax errors into a ConfigError."""
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return loaded


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


def _format(error: jsonschema.ValidationError) -> str:
    # oneOf/allOf errors are vague on their own; their most specific sub-error is clearer.
    best = jsonschema.exceptions.best_match([error])
    allowed = _allowed(best)
    message = f"config key '{_key_path(best)}': {best.message}"
    return f"{message} (allowed: {allowed})" if allowed else message


def _schema_errors(config: dict, schema: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [
        _format(err) for err in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path).__repr__())
    ]


def resolve_sections(config: dict, experiment: dict) -> dict[str, dict]:
    """Base sections with the experiment's overrides applied (before the grid)."""
    return {section: {**config[section], **experiment.get(section, {})} for section in SECTIONS}


def _grid_errors(name: str, sweep: str, grid: dict, base: dict, defs: dict) -> Iterable[str]:
    where = f"experiments.{name}.sweeps.{sweep}"
    for key, values in grid.items():
        section, field = key.split(".", 1)
        if field not in base[section]:
            yield f"config key '{where}.{key}': unknown key (allowed: {sorted(base[section])} of section '{section}')"
            continue
        field_schema = {"$defs": defs, **defs[section]["properties"][field]}
        for value in values:
            for err in jsonschema.Draft202012Validator(field_schema).iter_errors(value):
                yield f"config key '{where}.{key}': value {value!r}: {err.message}"


def _image_errors(name: str, base: dict, swept: dict) -> Iterable[str]:
    """Constraints of image experiments: no synthetic-only mechanisms, a tail from outside the classes."""
    data = base["data"]
    if any(
        k > 1 for k in swept.get("training.augmentation_multiplicity", [base["training"]["augmentation_multiplicity"]])
    ):
        yield (
            f"config key 'experiments.{name}.training.augmentation_multiplicity': images support no augmentation "
            "views yet (allowed: 1)"
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
    from dpharm.experiments import REGISTRY, configurable_names

    defs = schema["$defs"]
    for name, experiment in config["experiments"].items():
        if name not in configurable_names():
            yield f"config key 'experiments.{name}': not a registered experiment (allowed: {configurable_names()})"
            continue
        base = resolve_sections(config, experiment)
        swept = {key: values for grid in experiment["sweeps"].values() for key, values in grid.items()}
        for sweep, grid in experiment["sweeps"].items():
            yield from _grid_errors(name, sweep, grid, base, defs)
            for problem in REGISTRY[name].sweep_errors(sweep, grid):
                yield f"config key 'experiments.{name}.sweeps.{sweep}': {problem}"
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


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Raise ConfigError listing every problem; return the config unchanged when valid."""
    schema = schema or load_schema()
    errors = _schema_errors(config, schema)
    if not errors:
        errors = list(_semantic_errors(config, schema))
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    return config


def config_hash(config: dict) -> str:
    """sha256 of the configuration in canonical JSON (sorted keys; inf written as JSON's non-standard
    `Infinity`, other values JSON cannot hold as their str())."""
    import hashlib
    import json

    canonical = json.dumps(config, sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def merge(base: dict, override: dict) -> dict:
    """Recursively merge `override` into a copy of `base` (as Snakemake merges --configfile)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
