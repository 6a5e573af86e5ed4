"""Stage 5: one experiment's figure from its table alone."""

from __future__ import annotations

from dpharm.claims.judging import judge
from dpharm.jobs.tables import read_result_table
from dpharm.reporting.plots import draw


def figure(
    table_file: str,
    name: str,
    pdf: str,
    png: str,
    settings: dict,
    committed: bool = False,
    conditions: list[str] | None = None,
) -> None:
    """Draw one figure from its table alone, with the verdicts of its claim tests, judged from
    the same table by the rules that write claim_tests.csv (`settings`: the claims section), so
    that one experiment's figure never waits for the others."""

    table = read_result_table(table_file, committed, conditions)
    tests, _ = judge({name: table}, settings)
    draw(name, table, tests, pdf, png, settings["confidence"])
