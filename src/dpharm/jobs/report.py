"""Stage 5: tidy tables, the pooled FNR table, verdicts, figures and the run's provenance."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dpharm.claims.judging import judge, render_markdown
from dpharm.io import write_json, write_text
from dpharm.measurement.tables import (
    REQUIRED_NUMBERS,
    check_experiment_table,
    fnr_agreement,
    read_evaluation,
    read_table,
    rebuild_fix,
    restore_fix,
    write_csv,
)
from dpharm.measurement.tables import aggregate as combine
from dpharm.measurement.tables import fnr_transition as pooled
from dpharm.reporting.claims_page import render_html
from dpharm.reporting.plots import draw
from dpharm.reporting.verdict_figures import draw_verdict_figures
from dpharm.setup.provenance import provenance as record
from dpharm.setup.runtime import pick_device


def aggregate(
    runs: dict[str, list[str]], seeds: list[int], output: str, label_columns: list[str], source_labels: dict
) -> None:
    """One experiment's evaluation tables, each checked against its planned `runs` (evaluation
    file -> condition ids) at every seed, with the DP changes and the groups' source labels, as
    one table."""

    frames = [read_evaluation(path, conditions, seeds) for path, conditions in runs.items()]
    write_csv(output, combine(frames, label_columns, source_labels))


def fnr_transition(inputs: list[str], output: str, agreement: str) -> None:
    """The FNRs of every synthetic run and group beside its test loss and accuracy, and how well
    the FNR estimates agree with the measured one."""

    table = pooled([read_table(path) for path in inputs])
    write_csv(output, table)
    write_csv(agreement, fnr_agreement(table))


def read_result_table(path: str, committed: bool, conditions: list[str] | None) -> pd.DataFrame:
    """A table the verdicts or a figure read (`read_table`), an experiment's checked against its
    planned `conditions`; a damaged one is refused with the fix for where it comes from
    (committed: restore it from git; made by this run: delete it and rerun)."""
    fix = restore_fix(path) if committed else rebuild_fix(path)
    table = read_table(path, fix, REQUIRED_NUMBERS.get(Path(path).stem))
    if conditions is not None:
        check_experiment_table(table, path, conditions, fix)
    return table


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
    tests_csv: str, matrix: tuple[str, str], forest: tuple[str, str], claims_html: str, confidence: float
) -> None:
    """The conclusion at a glance, drawn from results/tables/claim_tests.csv alone: the verdict
    matrix and the forest plot (each as (pdf, png)), and the claims page with the matrix on top."""
    tests = pd.read_csv(tests_csv)
    draw_verdict_figures(tests, *matrix, *forest)
    write_text(claims_html, render_html(tests, confidence, Path(matrix[1]).read_bytes()))


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


def provenance(output: str, config_hash: str, git: dict, config: dict) -> None:
    """Where the run's numbers came from: code, packages, device, config hash."""

    write_json(
        output, {**record(pick_device(config["device"]), config["threads"]), "git": git, "config_sha256": config_hash}
    )
