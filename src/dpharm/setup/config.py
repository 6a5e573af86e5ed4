"""Read the workflow configuration: its files (strictly), its schema, its sections and keys.

Validation is in `dpharm.setup.validation`; this module needs nothing from the rest of the
package, so every layer may import it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Iterable

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
SECTIONS = ("data", "model", "pretraining", "training", "evaluation")
EPSILON_KEY = "training.epsilon"  # the one grid key that may be .inf (the non-private baseline)


class ConfigError(ValueError):
    """The configuration does not satisfy the schema or the workflow's constraints."""


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """The JSON schema, stored as YAML (workflow/schemas/config.schema.yaml)."""
    return yaml.safe_load(path.read_text())


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last silently)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    lines: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in lines:
            raise ConfigError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1} (first at line "
                              f"{lines[key]}); YAML would silently keep the last value")  # fmt: skip
        lines[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML configuration file, turning syntax errors and duplicate keys into a ConfigError."""
    try:
        loaded = yaml.load(Path(path).read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return loaded


def resolve_sections(config: dict, experiment: dict) -> dict[str, dict]:
    """Base sections with the experiment's overrides applied (before the grid)."""
    return {section: {**config[section], **experiment.get(section, {})} for section in SECTIONS}


def config_hash(config: dict) -> str:
    """sha256 of the part of the configuration a run's results depend on: every key except the
    settings of switched-off experiments (editing those changes no table this run makes), in
    canonical JSON (sorted keys; inf written as JSON's non-standard `Infinity`, other values JSON
    cannot hold as their str())."""
    enabled = {name: e for name, e in config.get("experiments", {}).items() if e["enabled"]}
    canonical = json.dumps({**config, "experiments": enabled}, sort_keys=True, default=str, allow_nan=True)
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


def check_config_files(paths: Iterable[str | Path]) -> None:
    """Read every config file a run uses with the strict loader (Snakemake's own keeps the last of
    two duplicate keys); raise ConfigError naming each file and duplicate."""
    errors = []
    for path in paths:
        try:
            load_yaml(path)
        except ConfigError as err:
            errors.append(str(err))
    if errors:
        raise ConfigError("invalid configuration files:\n  " + "\n  ".join(errors))
