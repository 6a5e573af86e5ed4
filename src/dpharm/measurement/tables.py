"""Tidy result tables: one row per run x group x metric (x attack radius)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from dpharm.data.groups import identity
from dpharm.io import REMADE, CorruptFileError, atomic_path
from dpharm.training.records import TrainingRecord

KEY_COLUMNS = [
    "experiment",
    "dataset",
    "condition",
    "seed",
    "epsilon",
    "epsilon_spent",
    "delta",
    "accountant",
    "noise_multiplier",
]
ROW_COLUMNS = ["group", "metric", "attack_radius", "value"]
CHANGE_METRICS = {"test_loss": "test_loss_change", "test_accuracy": "test_accuracy_change"}


def run_rows(
    rows: list[dict], *, experiment: str, condition: str, seed: int, record: TrainingRecord, labels: dict, dataset: str
) -> pd.DataFrame:
    """Evaluation rows of one run, labelled with its identity, sweep and swept settings."""
    frame = pd.DataFrame(rows, columns=ROW_COLUMNS)
    labels = {
        "experiment": experiment,
        "dataset": dataset,
        "condition": condition,
        "seed": seed,
        "epsilon": float(record.epsilon_target),
        "epsilon_spent": float(record.epsilon_spent),
        "delta": record.delta,
        "accountant": record.accountant or "none",
        "noise_multiplier": record.noise_multiplier,
        **labels,
    }
    for column, value in reversed(labels.items()):
        frame.insert(0, column, value)
    return frame


def dp_changes(table: pd.DataFrame, label_columns: list[str]) -> pd.DataFrame:
    """DP minus non-DP change of test loss and accuracy, matched on every other label and seed."""
    match = [c for c in label_columns if c != "epsilon"] + ["seed", "group"]
    base = table[table["metric"].isin(CHANGE_METRICS) & np.isinf(table["epsilon"])]
    if base.empty:
        return table.iloc[0:0]
    private = table[table["metric"].isin(CHANGE_METRICS) & np.isfinite(table["epsilon"])]
    merged = private.merge(base[match + ["metric", "value"]], on=match + ["metric"], suffixes=("", "_nonprivate"))
    merged["value"] = merged["value"] - merged["value_nonprivate"]
    merged["metric"] = merged["metric"].map(CHANGE_METRICS)
    return merged[table.columns]


RUN_KEY = ["condition", "seed"]
ROW_KEY = [*RUN_KEY, "group", "metric", "attack_radius"]
# Relative slack on epsilon_spent <= target: the accountant's answer is a float from a search.
SPENT_SLACK = 1e-6
# Metrics whose `value` may be blank: the predicted FNR's closed form covers private runs trained
# from scratch only (dpharm.measurement.fnr.predicted_fnr). Any other blank is a damaged file.
MAY_BE_BLANK = {"fnr_predicted"}
# Columns of wide tables that must hold a number in every row, by table name.
REQUIRED_NUMBERS = {"fnr_transition": ["fnr_measured", "test_loss", "test_accuracy"]}


def rebuild_fix(path) -> str:
    """What to do with a damaged table the run makes itself."""
    return "delete it and rerun: Snakemake rebuilds it"


def restore_fix(path) -> str:
    """What to do with a damaged committed table (one the run does not rebuild)."""
    return f"it is a committed table and is corrupt: restore it with `git checkout -- {Path(path).resolve()}`"


def _refuse(path, problem: str, fix: str):
    # absolute: a job runs in the configuration's working folder (runs/small), not where the user is
    raise CorruptFileError(f"{Path(path).resolve()}: {problem}; {fix}")


def _check_lines(path, raw: bytes, fix: str) -> str:
    """The file's text, refused when empty, cut mid-line or with a line of another width than its header."""
    if not raw.strip():
        _refuse(path, "the table is empty", fix)
    if not raw.endswith(b"\n"):
        _refuse(path, "the last line is cut short", fix)
    try:
        text = raw.decode()
    except UnicodeDecodeError as err:
        _refuse(path, f"not text ({err})", fix)
    lines = list(csv.reader(io.StringIO(text)))
    width = len(lines[0])
    for number, line in enumerate(lines[1:], start=2):
        if len(line) != width:
            _refuse(path, f"line {number} has {len(line)} fields where the header has {width}", fix)
    return text


def _check_numbers(path, table: pd.DataFrame, columns: list[str], fix: str) -> None:
    """Every cell of `columns` a number (blank `value`s only for MAY_BE_BLANK metrics); the
    columns become floats."""
    for column in columns:
        if column not in table.columns:
            _refuse(path, f"lacks the column {column!r}", fix)
        numbers = pd.to_numeric(table[column], errors="coerce")
        garbled = table[column].notna() & numbers.isna()
        blank = table[column].isna()
        if column == "value" and "metric" in table.columns:
            blank &= ~table["metric"].isin(MAY_BE_BLANK)
        if garbled.any():
            row = int(np.flatnonzero(garbled.to_numpy())[0])
            _refuse(path, f"{column} {str(table[column].iloc[row])!r} at line {row + 2} is not a number", fix)
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0])
            _refuse(path, f"{column} at line {row + 2} is blank", fix)
        table[column] = numbers.astype(float)


def read_table(path, fix: str | None = None, numbers: list[str] | None = None) -> pd.DataFrame:
    """The one reader of every result table (evaluation files, experiment tables, pooled and
    committed ones): refuses a missing, empty or truncated file, a line of the wrong width, and
    a blank or non-numeric `value` (and `numbers` columns), raising CorruptFileError with the
    file's absolute path and `fix` (default: delete it and rerun)."""
    fix = fix or rebuild_fix(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        _refuse(path, f"cannot read the table ({err.strerror})", fix)
    text = _check_lines(path, raw, fix)
    try:
        table = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        _refuse(path, f"cannot parse the table ({err})", fix)
    required = list(numbers or []) + (["value"] if "value" in table.columns else [])
    _check_numbers(path, table, required, fix)
    return table


def check_rows(table: pd.DataFrame, source, fix: str | None = None) -> None:
    """Refuse a result table whose rows cannot be trusted: a missing key, a row twice, or more
    privacy spent than the target.

    Raises CorruptFileError naming `source` (absolute) and `fix`, so that a reader knows what to do.
    """
    keys = [*KEY_COLUMNS, "group", "metric"]
    fix = fix or rebuild_fix(source)

    missing = [column for column in keys if column not in table.columns or table[column].isna().any()]
    if missing:
        _refuse(source, f"empty key values in {missing}", fix)
    if table.duplicated(ROW_KEY).any():
        first = table[table.duplicated(ROW_KEY)].iloc[0]
        _refuse(source, f"row {dict(first[ROW_KEY])} appears more than once", fix)
    private = table[np.isfinite(table["epsilon"])]
    overspent = private[private["epsilon_spent"] > private["epsilon"] * (1 + SPENT_SLACK)]
    if not overspent.empty:
        row = overspent.iloc[0]
        _refuse(
            source, f"{row['condition']} seed {row['seed']} spent epsilon {row['epsilon_spent']} over its target", fix
        )


def _check_row_counts(table: pd.DataFrame, source, within: list[str], fix: str) -> None:
    """Runs that should have as many rows (those sharing the `within` columns; all runs when
    empty) have as many: a table cut at a line boundary loses rows of its last run."""
    counts = table.groupby(RUN_KEY).size()
    for _, rows in counts.groupby(level=within) if within else [(None, counts)]:
        if rows.nunique() > 1:
            _refuse(source, f"runs have unequal row counts ({rows.min()} to {rows.max()}), cut short or edited", fix)


def check_runs(
    table: pd.DataFrame, source, conditions: list[str], seeds: list[int] | None, fix: str, within: list[str] = ()
) -> None:
    """Refuse a table whose runs are not exactly the plan's: each of `conditions` at each seed
    (`seeds`, or those the table holds when None) once, and runs that share the `within`
    columns (all runs when empty) with as many rows."""
    _check_row_counts(table, source, list(within), fix)
    found = set(zip(table["condition"], table["seed"], strict=True))
    seeds = sorted(set(table["seed"])) if seeds is None else seeds
    planned = {(condition, seed) for condition in conditions for seed in seeds}
    if found != planned:
        extra, absent = sorted(found - planned), sorted(planned - found)
        _refuse(source, f"runs differ from the plan (absent {absent[:3]}, unplanned {extra[:3]})", fix)


def check_experiment_table(table: pd.DataFrame, path, conditions: list[str], fix: str) -> None:
    """An experiment table (made by this run or committed) against its plan: trustworthy rows,
    every planned condition at every seed it holds and none other, each condition's seeds with
    as many rows (a private run has DP-change rows a non-private one lacks)."""
    check_rows(table, path, fix)
    check_runs(table, path, conditions, None, fix, within=["condition"])


# What a reader does with a damaged evaluation file: the job that made it runs again when it is gone.
REMOVED_FIX = REMADE


def read_evaluation(path: str, conditions: list[str], seeds: list[int]) -> pd.DataFrame:
    """One training job's evaluation CSV (`read_table`), checked against the plan: each of
    `conditions` at each of `seeds` exactly once, complete (`check_rows`).

    A damaged file is removed, so that a plain rerun remakes it; raises CorruptFileError naming it.
    """
    try:
        table = read_table(path, REMOVED_FIX)
        missing = set(KEY_COLUMNS + ROW_COLUMNS) - set(table.columns)
        if missing:
            _refuse(path, f"lacks columns {sorted(missing)}", REMOVED_FIX)
        check_rows(table, path, REMOVED_FIX)
        check_runs(table, path, conditions, seeds, REMOVED_FIX)
    except CorruptFileError:
        Path(path).unlink(missing_ok=True)
        raise
    return table


def aggregate(frames: list[pd.DataFrame], label_columns: list[str], source_labels: dict | None = None) -> pd.DataFrame:
    """One experiment's evaluation tables (`read_evaluation`) as one table, plus the `dp_changes`
    rows and the groups' identity (`with_group_identity`), in a stable order; a table lacking a
    label column raises CorruptFileError."""
    table = pd.concat(frames, ignore_index=True)
    missing = set(label_columns) - set(table.columns)
    if missing:
        raise CorruptFileError(f"evaluation tables lack columns {sorted(missing)}; delete them and rerun")
    table = pd.concat([table, dp_changes(table, label_columns)], ignore_index=True)
    table = with_group_identity(table, source_labels or {})
    return table.sort_values(
        ["condition", "seed", "metric", "group", "attack_radius"], kind="stable", ignore_index=True
    )


def with_group_identity(table: pd.DataFrame, source_labels: dict[str, int]) -> pd.DataFrame:
    """The table with `class`, `subpopulation` and `label` columns after `group`, so that a reader
    selects groups without parsing names: class and subpopulation are empty for 'all' (and the
    subpopulation for a whole class); `label` is the group's label in the image source
    (`dpharm.data.groups.source_labels`), empty for synthetic data, 'all' and mixed classes."""

    identities = {name: identity(name) for name in table["group"].unique()}
    position = table.columns.get_loc("group") + 1
    table = table.copy()
    table.insert(position, "label", table["group"].map(source_labels).astype("Int64"))
    table.insert(position, "subpopulation", table["group"].map(lambda g: identities[g][1]))
    table.insert(position, "class", table["group"].map(lambda g: identities[g][0]).astype("Int64"))
    return table


def write_csv(path, frame: pd.DataFrame) -> None:
    """Write `frame` atomically, without its index, floats at 10 significant digits."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")


TRANSITION_METRICS = ["fnr_measured", "fnr_weights", "fnr_filter", "fnr_predicted", "test_loss", "test_accuracy"]


def fnr_transition(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per synthetic run and group that has an FNR: its FNRs beside its test loss and accuracy.

    Experiments share settings (the adversarial experiment's runs are utility_vs_noise's default
    ones, for example): a model that appears in several experiments gives identical numbers, and
    is kept once.
    """
    rows = pd.concat(tables, ignore_index=True)
    rows = rows[
        rows["metric"].isin(TRANSITION_METRICS) & rows["attack_radius"].isna() & (rows["dataset"] == "synthetic")
    ]
    index = ["experiment", "dataset", "sweep", "condition", "seed", "epsilon", "group"]
    wide = rows.pivot(index=index, columns="metric", values="value").reset_index()
    wide.columns.name = None
    wide = wide.dropna(subset=["fnr_measured"])[index + TRANSITION_METRICS]
    return wide.drop_duplicates(subset=["seed", "epsilon", "group", *TRANSITION_METRICS], ignore_index=True)


def fnr_agreement(transition: pd.DataFrame) -> pd.DataFrame:
    """How well the weights-only FNR and the prediction agree with the measured FNR, over the
    private group rows (the prediction does not cover non-private runs)."""
    from scipy import stats

    rows = []
    for estimate in ("fnr_weights", "fnr_predicted", "fnr_filter"):
        # rows the estimate covers: private ones (the prediction: private runs from scratch)
        private = transition[np.isfinite(transition["epsilon"])].dropna(subset=[estimate])
        ratio = private[estimate] / private["fnr_measured"]
        rows.append({
            "estimate": estimate, "rows": len(private),
            "spearman": stats.spearmanr(private[estimate], private["fnr_measured"]).statistic,
            "share_within_10pct": float((np.abs(ratio - 1) <= 0.1).mean()),
            "share_within_2x": float(((ratio >= 0.5) & (ratio <= 2)).mean()),
            "median_ratio": float(ratio.median()),
        })  # fmt: skip
    return pd.DataFrame(rows)
