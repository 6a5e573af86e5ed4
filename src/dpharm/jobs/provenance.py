"""Stage 5: the run's provenance record."""

from __future__ import annotations

from dpharm.io import write_json
from dpharm.setup.provenance import provenance as record
from dpharm.setup.runtime import pick_device


def provenance(output: str, config_hash: str, git: dict, config: dict, configuration: dict) -> None:
    """Where the run's numbers came from: code, packages, device, config hash, and which
    configuration it was (`configuration`: its config files, the tables it makes (every one up to date when
    the record is written) and the committed ones it only carried over into the verdicts)."""
    write_json(
        output,
        {
            **record(pick_device(config["device"]), config["threads"]),
            "git": git,
            "config_sha256": config_hash,
            "configuration": configuration,
        },
    )
