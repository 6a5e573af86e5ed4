"""Stage 5: the claim tests and verdicts from the result tables, and the conclusion at a glance
(verdict matrix, forest plot, claims page)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dpharm.claims.judging import judge, render_markdown
from dpharm.io import write_text
from dpharm.jobs.tables import read_result_table
from dpharm.measurement.tables import write_csv
from dpharm.reporting.claims_page import render_html
from dpharm.reporting.verdict_figures import draw_verdict_figures


def judge_claims(
    inputs: list[str],
    claims_csv: str,
    claims_md: str,
    tests_csv: str,
    settings: dict,
    committed: list[str] = (),
    plans: dict[str, list[str]] | None = None,
) -> None:
    """Every claim test and claim verdict, from the experiment tables (and the audit's):
    `committed` lists those this run does not rebuild, `plans` each experiment table's condition ids."""

    plans = plans or {}
    tables = {Path(path).stem: read_result_table(path, path in committed, plans.get(path)) for path in inputs}
    tests, claims = judge(tables, settings)
    write_csv(tests_csv, tests)
    write_csv(claims_csv, claims)
    write_text(claims_md, render_markdown(claims, tests, settings["confidence"]))


def verdicts(
    tests_csv: str,
    confirmations: list[str],
    matrix: tuple[str, str],
    forest: tuple[str, str],
    claims_html: str,
    confidence: float,
) -> None:
    """The conclusion at a glance, drawn from results/tables/claim_tests.csv and the
    confirmations' claim tests (their own matrix columns): the verdict matrix and the forest plot
    (each as (pdf, png)), and the claims page with the matrix on top."""
    tests = pd.read_csv(tests_csv)
    draw_verdict_figures(tests, [pd.read_csv(path) for path in confirmations], *matrix, *forest)
    write_text(claims_html, render_html(tests, confidence, Path(matrix[1]).read_bytes()))
