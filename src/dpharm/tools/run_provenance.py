"""What a results folder says about where it was made (its provenance.json), for the review: the
configuration hash both runs must share, and the machine facts that decide the last bits of a
float32 result besides the code, the packages and the config."""

from __future__ import annotations

import json
from pathlib import Path

PROVENANCE = "provenance.json"


# What decides the last bits of a float32 result besides the code, the packages and the config.
MACHINE_KEYS = ("device", "cpu", "cpu_capability", "kernel_pins")


def read_provenance(folder: Path, record_name: str = PROVENANCE) -> dict:
    """A results folder's provenance record ({} when absent or unreadable): provenance.json for the
    default configuration, provenance.<overlay>.json for another."""
    try:
        record = json.loads((folder / record_name).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def config_hash_of(folder: Path, record_name: str = PROVENANCE) -> str | None:
    return read_provenance(folder, record_name).get("config_sha256")


def machine_differences(fresh: Path, reference: Path, record_name: str = PROVENANCE) -> dict[str, tuple]:
    """MACHINE_KEYS recorded in both provenance records with different values: key -> (fresh, reference)."""
    records = read_provenance(fresh, record_name), read_provenance(reference, record_name)
    return {
        key: (records[0][key], records[1][key])
        for key in MACHINE_KEYS
        if key in records[0] and key in records[1] and records[0][key] != records[1][key]
    }


CONFIGURATIONS_DIFFER = (
    "NOTE: the two results come from different configurations (config_sha256 in provenance.json "
    "differs or is missing); their rows are not expected to agree. Rerun with the reference's configuration."
)


def table_origins(fresh: Path, record_name: str = PROVENANCE) -> dict[str, str]:
    """Per table ('tables/x.csv'): 'made' (by the fresh run's configuration, up to date when its
    record was written) or 'carried over', as the fresh run's provenance lists them; empty when it
    does not (a record made before the lists existed)."""
    configuration = read_provenance(fresh, record_name).get("configuration", {})
    origins = {}
    for key, origin in (("tables_made", "made"), ("tables_carried_over", "carried over")):
        for path in configuration.get(key, []):
            origins[f"tables/{Path(path).name}"] = origin
    return origins


def origins_note(origins: dict[str, str], compared: list[str]) -> str:
    """Which compared tables the fresh run's configuration made, and which it only carried over
    from the checkout: a carried-over table matches its reference because nobody changed it, not because
    the run reproduced it."""
    tables = [name for name in compared if name.startswith("tables/")]
    if not origins:
        return (
            "NOTE: the fresh run's provenance record does not list the tables it made; a table its "
            "configuration does not make matches only because it was carried over."
        )
    made = [name for name in tables if origins.get(name) == "made"]
    carried = [name for name in tables if origins.get(name) != "made"]
    lines = [f"Made by the fresh run's configuration and compared: {len(made)} of {len(tables)} tables."]
    if carried:
        lines.append(
            f"Carried over, not made by the fresh run's configuration (they match because nobody changed them; rerun "
            f"their configuration to reproduce them): {', '.join(carried)}"
        )
    return "\n".join(lines)


def machines_note(differences: dict[str, tuple]) -> str:
    """A note that the runs come from different machines, so 1e-6 agreement is not expected."""
    which = "; ".join(f"{key} {fresh!r} vs reference {ref!r}" for key, (fresh, ref) in differences.items())
    return (
        f"NOTE: the two results come from different machines ({which}). Every job pins torch, MKL, OpenBLAS "
        "and numpy to their AVX2 paths (kernel_pins), so pinned runs should agree byte for byte; where either "
        "run lacks the pins or a CPU lacks AVX2, float32 results differ in their last bits: compare with "
        "--tolerances and identical verdicts."
    )
