"""Tolerances of the artifact review: per-metric absolute and relative bounds, from YAML."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

# The pipeline is deterministic on CPU, so by default numbers must agree almost exactly.
DEFAULT_TOLERANCE = {"abs": 1e-6, "rel": 1e-6}
# Interval bounds are on the effect's scale, so they share its tolerance unless set.
TOLERANCE_ALIASES = {"ci_low": "effect", "ci_high": "effect"}


class UsageError(Exception):
    """Bad command-line input: a missing folder or an unreadable tolerance file."""


@dataclass(frozen=True)
class Tolerances:
    """A parsed tolerance file: the default {abs, rel} and, per metric or column, only the bounds
    it overrides."""

    default: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TOLERANCE))
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def bounds(self, name: str) -> tuple[float, float]:
        """(abs, rel) for a metric or column, falling back to its alias, then the default."""
        chosen = self.metrics.get(name) or self.metrics.get(TOLERANCE_ALIASES.get(name, ""), {})
        merged = {**self.default, **chosen}
        return merged["abs"], merged["rel"]


# ---------------------------------------------------------------- tolerances


def _bound_pair(raw: object, where: str, base: dict[str, float]) -> dict[str, float]:
    """Validate one {abs, rel} mapping; missing bounds come from `base`."""
    if raw is None:
        return dict(base)
    if not isinstance(raw, dict) or set(raw) - {"abs", "rel"}:
        raise UsageError(f"tolerance '{where}' must be a mapping with keys 'abs' and/or 'rel', got {raw!r}")
    out = dict(base)
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise UsageError(f"tolerance '{where}.{key}' must be a non-negative number, got {value!r}")
        out[key] = float(value)
    return out


def parse_tolerances(raw: dict | None) -> Tolerances:
    """Check a {default: {...}, metrics: {name: {...}}} mapping and fill in the defaults."""
    if raw is None:
        return Tolerances()
    if not isinstance(raw, dict) or set(raw) - {"default", "metrics"}:
        raise UsageError("tolerances must be a mapping with keys 'default' and/or 'metrics'")
    default = _bound_pair(raw.get("default"), "default", DEFAULT_TOLERANCE)
    metrics = raw.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise UsageError("tolerances 'metrics' must map metric names to {abs, rel}")
    # Per-metric entries keep only what they set, so they inherit a loosened default.
    parsed = {str(name): _bound_pair(value, f"metrics.{name}", {}) for name, value in metrics.items()}
    return Tolerances(default, parsed)


def load_tolerances(path: Path) -> dict:
    """Read the YAML tolerance file; any problem is a usage error."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        raise UsageError(f"cannot read tolerance file {path}: {err}") from err
    parse_tolerances(raw)  # validate now, so the message names the file's problem early
    return raw or {}


# ---------------------------------------------------------------- comparison primitives


def format_tolerances(tolerances: Tolerances) -> str:
    """One line of the tolerances in effect, printed above the report."""
    parts = [f"default abs={tolerances.default['abs']:g} rel={tolerances.default['rel']:g}"]
    parts += [f"{name} abs={a:g} rel={r:g}" for name in tolerances.metrics for a, r in [tolerances.bounds(name)]]
    return "tolerances: " + "; ".join(parts)
