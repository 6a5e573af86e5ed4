"""Artifact review: compare a fresh `results/` folder with a reference one.

    python -m dpharm.review FRESH_RESULTS REFERENCE_RESULTS [--tolerances FILE.yaml]

Every CSV under the reference's `tables/` and its `claims.csv` is compared with the fresh
copy: rows are aligned on their identifying columns, numbers are compared per metric within
an absolute + relative tolerance, text (verdicts above all) must match exactly. A
fixed-width pass/fail table is printed; the exit status is 0 on pass, 1 on fail and 2 on a
usage error.

Tolerance file (YAML; every part optional, a metric's missing bound falls back to default):

    default: {abs: 1.0e-6, rel: 1.0e-6}
    metrics:
      test_loss: {abs: 0.05, rel: 0.1}
      effect: {abs: 0.02}

A number f passes against its reference r when |f - r| <= abs + rel * |r|; NaN equals NaN and
inf equals an inf of the same sign. Tolerances are looked up by metric name (long tables),
by column name (wide tables and claims.csv) and, for `ci_low`/`ci_high`, fall back to
`effect`'s.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from dpharm.io import CorruptFileError
from dpharm.measurement.tables import read_table
from dpharm.tools.run_provenance import (
    CONFIGURATIONS_DIFFER,
    PROVENANCE,
    config_hash_of,
    machine_differences,
    machines_note,
    origins_note,
    table_origins,
)
from dpharm.tools.tolerances import Tolerances, UsageError, format_tolerances, load_tolerances, parse_tolerances

# Derived numbers of a long table: compared like values, but not part of a row's identity.
DERIVED_COLUMNS = ["epsilon_spent", "noise_multiplier"]
# Columns that identify a row of a wide table (those present are used).
ID_COLUMNS = [
    "claim",
    "test",
    "mechanism",
    "experiment",
    "dataset",
    "sweep",
    "condition",
    "seed",
    "epsilon",
    "delta",
    "accountant",
    "group",
    "attack_radius",
]
# claims.csv has one row per claim and dataset; its other columns are what is compared.
CLAIMS_KEYS = ["claim", "dataset"]
CHECK_COLUMNS = ["file", "check", "rows", "mismatches", "max_abs_diff", "passed"]
_OCCURRENCE = "__occurrence__"


# What the review says of a table it cannot trust (dpharm.measurement.tables.read_table refuses it).
UNREADABLE_FIX = "the review cannot compare it"


def read_csv(path: Path) -> pd.DataFrame:
    """A table through the pipeline's one strict reader (`read_table`: cut, garbled or blank
    numbers are refused); a zero-byte file is an empty table rather than an error."""
    if path.is_file() and path.stat().st_size == 0:
        return pd.DataFrame()
    return read_table(path, UNREADABLE_FIX)


def _normalise_keys(fresh: pd.DataFrame, reference: pd.DataFrame, keys: list[str]) -> None:
    """Give key columns one dtype on both sides so merging never fails on int-vs-float or text."""
    for key in keys:
        if pd.api.types.is_numeric_dtype(fresh[key]) and pd.api.types.is_numeric_dtype(reference[key]):
            fresh[key], reference[key] = fresh[key].astype(float), reference[key].astype(float)
        else:
            fresh[key], reference[key] = fresh[key].astype(str), reference[key].astype(str)


def align(fresh: pd.DataFrame, reference: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, int, int]:
    """Outer-join on `keys`: (matched rows with _fresh/_ref suffixes, #only fresh, #only reference).

    Repeated keys are paired in file order, so duplicates cannot multiply rows.
    """
    fresh, reference = fresh.copy(), reference.copy()
    _normalise_keys(fresh, reference, keys)
    for frame in (fresh, reference):
        frame[_OCCURRENCE] = frame.groupby(keys, dropna=False).cumcount() if keys else range(len(frame))
    on = keys + [_OCCURRENCE]
    merged = fresh.merge(reference, on=on, how="outer", suffixes=("_fresh", "_ref"), indicator=True)
    only_fresh = int((merged["_merge"] == "left_only").sum())
    only_ref = int((merged["_merge"] == "right_only").sum())
    return merged[merged["_merge"] == "both"].drop(columns=["_merge", _OCCURRENCE]), only_fresh, only_ref


def numeric_diff(
    fresh: pd.Series, reference: pd.Series, abs_tol: float, rel_tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """(outside-tolerance mask, |diff|); NaN==NaN and equal infs count as exact, other NaN/inf as inf."""
    f = pd.to_numeric(fresh, errors="coerce").to_numpy(dtype=float)
    r = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=float)
    # Text where a number belongs must not pass as NaN == NaN.
    garbled = (fresh.notna().to_numpy() & np.isnan(f)) | (reference.notna().to_numpy() & np.isnan(r))
    same = ((np.isnan(f) & np.isnan(r)) | (f == r)) & ~garbled  # f == r also covers inf == inf
    with np.errstate(invalid="ignore"):
        diff = np.abs(f - r)
    diff = np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))
    # Against an infinite reference only the same infinity passes (abs + rel * inf would pass anything).
    outside = ~same & ~(np.isfinite(r) & (diff <= abs_tol + rel_tol * np.abs(r)))
    return outside, diff


def _check(file: str, check: str, rows: int, mismatches: int, max_abs_diff: float = math.nan) -> dict:
    return {
        "file": file,
        "check": check,
        "rows": rows,
        "mismatches": mismatches,
        "max_abs_diff": max_abs_diff,
        "passed": mismatches == 0,
    }


def compare_numbers(file: str, check: str, fresh: pd.Series, reference: pd.Series, tol: tuple[float, float]) -> dict:
    """One check of matched numbers within `tol` = (abs, rel); max_abs_diff is NaN without rows."""
    outside, diff = numeric_diff(fresh, reference, *tol)
    return _check(file, check, len(diff), int(outside.sum()), float(diff.max()) if len(diff) else math.nan)


def compare_text(file: str, check: str, fresh: pd.Series, reference: pd.Series) -> dict:
    """Exact match; two empty cells are equal."""
    differ = fresh.fillna("").astype(str).to_numpy() != reference.fillna("").astype(str).to_numpy()
    return _check(file, check, len(differ), int(differ.sum()))


# ---------------------------------------------------------------- tables


def is_long(table: pd.DataFrame) -> bool:
    """A tidy table: one row per metric, its number in `value`."""
    return {"metric", "value"} <= set(table.columns)


def key_columns(name: str, table: pd.DataFrame) -> list[str]:
    """Identifying columns: all but the results in a long table, known labels in a wide one."""
    if name == "claims.csv":
        return [c for c in CLAIMS_KEYS if c in table.columns]
    if is_long(table):
        return [c for c in table.columns if c not in ["value", *DERIVED_COLUMNS]]
    keys = [c for c in table.columns if c in ID_COLUMNS]
    # Without known labels, text columns are the best guess at a row's identity.
    return keys or [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]


def column_checks(file: str, fresh: pd.DataFrame, reference: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """A check for columns present on one side only, and the columns both sides share."""
    missing = [c for c in reference.columns if c not in fresh.columns]
    extra = [c for c in fresh.columns if c not in reference.columns]
    if not missing and not extra:
        return [], list(reference.columns)
    what = "columns" + (f" missing {missing}" if missing else "") + (f" extra {extra}" if extra else "")
    return [_check(file, what, len(reference.columns), len(missing) + len(extra))], [
        c for c in reference.columns if c in fresh.columns
    ]


def value_checks(
    file: str, matched: pd.DataFrame, reference: pd.DataFrame, columns: list[str], tolerances: Tolerances
) -> list[dict]:
    """One check per compared column: numbers within the column's tolerance, text exactly."""
    checks = []
    for column in columns:
        fresh_values, ref_values = matched[f"{column}_fresh"], matched[f"{column}_ref"]
        if pd.api.types.is_numeric_dtype(reference[column]):
            checks.append(compare_numbers(file, column, fresh_values, ref_values, tolerances.bounds(column)))
        else:
            checks.append(compare_text(file, column, fresh_values, ref_values))
    return checks


def long_checks(file: str, matched: pd.DataFrame, reference: pd.DataFrame, tolerances: Tolerances) -> list[dict]:
    """Per metric for `value` (the metric's tolerance), plus the derived columns."""
    checks = []
    for metric, rows in matched.groupby("metric", sort=False):
        checks.append(
            compare_numbers(file, str(metric), rows["value_fresh"], rows["value_ref"], tolerances.bounds(str(metric)))
        )
    derived = [c for c in DERIVED_COLUMNS if f"{c}_ref" in matched.columns]
    return checks + value_checks(file, matched, reference, derived, tolerances)


def compare_table(file: str, fresh: pd.DataFrame, reference: pd.DataFrame, tolerances: Tolerances) -> list[dict]:
    """All checks of one CSV present on both sides."""
    checks, shared = column_checks(file, fresh, reference)
    reference, fresh = reference[shared], fresh[shared]
    keys = key_columns(file, reference)
    matched, only_fresh, only_ref = align(fresh, reference, keys)
    checks.append(
        _check(
            file,
            f"rows aligned (only fresh {only_fresh}, only reference {only_ref})",
            len(matched) + only_fresh + only_ref,
            only_fresh + only_ref,
        )
    )
    if file != "claims.csv" and is_long(reference):
        return checks + long_checks(file, matched, reference, tolerances)
    return checks + value_checks(file, matched, reference, [c for c in shared if c not in keys], tolerances)


def compare_file(file: str, fresh_path: Path, reference_path: Path, tolerances: Tolerances) -> list[dict]:
    """The checks of one CSV; a missing fresh file, or one side unreadable, is one failed check."""
    if not fresh_path.is_file():
        return [_check(file, "file present", 0, 1)]
    try:
        fresh, reference = read_csv(fresh_path), read_csv(reference_path)
    except CorruptFileError as err:
        return [_check(file, f"readable ({err})", 0, 1)]
    return compare_table(file, fresh, reference, tolerances)


def reference_files(reference: Path) -> list[str]:
    """CSV paths relative to the results folder: tables/*.csv (recursively), then claims.csv."""
    tables = sorted(p.relative_to(reference).as_posix() for p in (reference / "tables").rglob("*.csv"))
    return tables + (["claims.csv"] if (reference / "claims.csv").is_file() else [])


def compare_results(
    fresh: Path, reference: Path, tolerances: dict | None = None, record: str = PROVENANCE
) -> pd.DataFrame:
    """The check table (file, check, rows, mismatches, max_abs_diff, passed) for two results folders."""
    fresh, reference = Path(fresh), Path(reference)
    for label, folder in (("fresh", fresh), ("reference", reference)):
        if not folder.is_dir():
            raise UsageError(f"{label} results folder {folder} does not exist")
    files = reference_files(reference)
    if not files:
        raise UsageError(f"reference folder {reference} has no tables/*.csv or claims.csv to compare")
    parsed = parse_tolerances(tolerances)
    checks = [configuration_check(fresh, reference, record)]
    checks += [c for f in files for c in compare_file(f, fresh / f, reference / f, parsed)]
    return pd.DataFrame(checks, columns=CHECK_COLUMNS)


def configuration_check(fresh: Path, reference: Path, record: str = PROVENANCE) -> dict:
    """The two runs' configurations (the config_sha256 of their provenance.json) must be the same:
    results of different configurations differ row by row for a reason that is not a defect."""
    hashes = config_hash_of(fresh, record), config_hash_of(reference, record)
    return _check(PROVENANCE, "config_sha256", 1, int(None in hashes or hashes[0] != hashes[1]))


# ---------------------------------------------------------------- report and CLI


def _format_diff(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.3g}"


def format_report(checks: pd.DataFrame) -> str:
    """Fixed-width table, one line per check, ending with `PASS` or `FAIL: n checks failed`."""
    cells = [
        [
            str(r.file),
            str(r.check),
            str(r.rows),
            str(r.mismatches),
            _format_diff(r.max_abs_diff),
            "PASS" if r.passed else "FAIL",
        ]
        for r in checks.itertuples()
    ]
    header = ["file", "check", "rows", "mismatches", "max |diff|", "result"]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    align_right = [False, False, True, True, True, False]

    def line(row: list[str]) -> str:
        """One row padded to the column widths (counts and differences right-aligned)."""
        return "  ".join(
            c.rjust(w) if right else c.ljust(w) for c, w, right in zip(row, widths, align_right, strict=False)
        ).rstrip()

    failed = int((~checks["passed"]).sum())
    lines = [line(header), line(["-" * w for w in widths]), *map(line, cells), ""]
    if not checks[(checks["file"] == PROVENANCE) & (checks["check"] == "config_sha256")]["passed"].all():
        lines.append(CONFIGURATIONS_DIFFER)
    lines.append("PASS" if failed == 0 else f"FAIL: {failed} checks failed")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (`sys.argv` when None); bad input or --help raises SystemExit."""
    parser = argparse.ArgumentParser(
        prog="python -m dpharm.review", description="Compare a fresh results/ folder with a reference one."
    )
    parser.add_argument("fresh", type=Path, help="freshly produced results/ folder")
    parser.add_argument("reference", type=Path, help="reference results/ folder")
    parser.add_argument("--tolerances", type=Path, help="YAML: {default: {abs, rel}, metrics: {name: {abs, rel}}}")
    parser.add_argument(
        "--record",
        default=PROVENANCE,
        help="the provenance record of the configuration that was rerun: %(default)s for the default, "
        "provenance.<overlay>.json after --configfile config/<overlay>.yaml",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Print the tolerances and the report; the exit status: 0 pass, 1 fail, 2 usage error."""
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # argparse already printed its message; keep 0 for --help
        return int(exit_.code or 0)
    try:
        raw = load_tolerances(args.tolerances) if args.tolerances else None
        checks = compare_results(args.fresh, args.reference, raw, args.record)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_tolerances(parse_tolerances(raw)))
    if differences := machine_differences(args.fresh, args.reference, args.record):
        print(machines_note(differences))
    print(origins_note(table_origins(args.fresh, args.record), reference_files(args.reference)))
    print(format_report(checks))  # its last line is the verdict, PASS or FAIL
    return 0 if bool(checks["passed"].all()) else 1
