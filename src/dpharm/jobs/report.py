"""Stage 5: tidy tables, the pooled FNR table, verdicts, figures and the run's provenance."""

from __future__ import annotations


def aggregate(inputs: list[str], output: str, label_columns: list[str]) -> None:
    """One experiment's evaluation tables, with the DP changes, as one table."""
    from dpharm.tables import aggregate as combine
    from dpharm.tables import write_csv

    write_csv(output, combine(inputs, label_columns))


def fnr_transition(inputs: list[str], output: str) -> None:
    """The FNR of every synthetic run and group beside its test loss and accuracy."""
    import pandas as pd

    from dpharm.tables import fnr_transition as pooled
    from dpharm.tables import write_csv

    write_csv(output, pooled([pd.read_csv(path) for path in inputs]))


def judge_claims(inputs: list[str], claims_csv: str, claims_md: str, tests_csv: str, settings: dict) -> None:
    """Every claim test and claim verdict, from the experiment tables (and the audit's)."""
    from pathlib import Path

    import pandas as pd

    from dpharm.claims import judge, render_markdown
    from dpharm.io import write_text
    from dpharm.tables import write_csv

    tests, claims = judge({Path(path).stem: pd.read_csv(path) for path in inputs}, settings)
    write_csv(tests_csv, tests)
    write_csv(claims_csv, claims)
    write_text(claims_md, render_markdown(claims, tests, settings["confidence"]))


def figure(table_file: str, name: str, pdf: str, png: str, confidence: float) -> None:
    """Draw one figure from its table alone."""
    import pandas as pd

    from dpharm.plots import draw

    draw(name, pd.read_csv(table_file), pdf, png, confidence)


def provenance(output: str, config_hash: str, git: dict, config: dict) -> None:
    """Where the run's numbers came from: code, packages, device, config hash."""
    from dpharm.io import write_json
    from dpharm.provenance import provenance as record
    from dpharm.runtime import pick_device

    write_json(
        output, {**record(pick_device(config["device"]), config["threads"]), "git": git, "config_sha256": config_hash}
    )
