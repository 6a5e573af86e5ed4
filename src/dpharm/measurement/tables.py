"""Tidy result tables: one row per run x group x metric (x attack radius)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dpharm.data.groups import identity
from dpharm.io import CorruptFileError, atomic_path
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


def check_rows(table: pd.DataFrame, source: str) -> None:
    """Refuse a result table whose rows cannot be trusted: a missing key, a row twice, or more
    privacy spent than the target.

    Raises CorruptFileError naming `source`, so that a reader knows which file to delete.
    """
    keys = [*KEY_COLUMNS, "group", "metric"]

    def refuse(problem: str):
        raise CorruptFileError(f"{source}: {problem}; delete it and rerun")

    missing = [column for column in keys if table[column].isna().any()]
    if missing:
        refuse(f"empty key values in {missing}")
    if table.duplicated(ROW_KEY).any():
        first = table[table.duplicated(ROW_KEY)].iloc[0]
        refuse(f"row {dict(first[ROW_KEY])} appears more than once")
    private = table[np.isfinite(table["epsilon"])]
    overspent = private[private["epsilon_spent"] > private["epsilon"] * (1 + SPENT_SLACK)]
    if not overspent.empty:
        row = overspent.iloc[0]
        refuse(f"{row['condition']} seed {row['seed']} spent epsilon {row['epsilon_spent']} over its target")


def read_evaluation(path: str, conditions: list[str], seeds: list[int]) -> pd.DataFrame:
    """One training job's evaluation CSV, checked against the plan: each of `conditions` at each
    of `seeds` exactly once, complete (`check_rows`), and the file not cut mid-line.

    Raises CorruptFileError naming `path`.
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(-1, 2)
            if handle.read(1) != b"\n":
                raise CorruptFileError(f"{path}: the last line is cut short; delete it and rerun")
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise CorruptFileError(f"{path}: cannot read the evaluation table ({err}); delete it and rerun") from err
    missing = set(KEY_COLUMNS + ROW_COLUMNS) - set(table.columns)
    if missing:
        raise CorruptFileError(f"{path}: lacks columns {sorted(missing)}; delete it and rerun")
    check_rows(table, path)
    counts = table.groupby(RUN_KEY).size()
    if counts.nunique() > 1:  # every run of a job is evaluated on the same groups and metrics
        raise CorruptFileError(
            f"{path}: runs have unequal row counts ({counts.min()} to {counts.max()}), cut short or edited; "
            "delete it and rerun"
        )
    found = set(zip(table["condition"], table["seed"], strict=True))
    planned = {(condition, seed) for condition in conditions for seed in seeds}
    if found != planned:
        extra, absent = sorted(found - planned), sorted(planned - found)
        raise CorruptFileError(
            f"{path}: runs differ from the plan (absent {absent[:3]}, unplanned {extra[:3]}); delete it and rerun"
        )
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
