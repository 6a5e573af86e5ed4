"""Stage 5: an experiment's tidy table from its evaluation files, the pooled FNR table, and a
result table read back for the verdicts and figures. Imports neither torch nor plotting, so that
these many short jobs start fast."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
