"""Pilot against confirmation: `python -m dpharm.tools.flips PILOT CONFIRMATION`.

Reads two claim_tests.csv files judged by the same rules (the pilot, results/pilot/, and the
confirmatory run, results/tables/) and prints one markdown row per test: both verdicts, both
effects with their seeds, and whether the verdict flipped. Every flip is reported; none is
tuned away (docs/preregistration.md). `--dataset` compares one dataset's tests alone, for a
confirmation that reran only that dataset (otherwise every other test shows as "not run").
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

KEYS = ["claim", "experiment", "test"]


def compare(pilot: pd.DataFrame, confirmation: pd.DataFrame) -> pd.DataFrame:
    """One row per test in either file: verdicts, effects and seeds side by side, and `flipped`
    (a test in one file alone is shown, as not run in the other, but is no flip)."""
    columns = [*KEYS, "dataset", "effect", "n_seeds", "verdict"]
    merged = pilot[columns].merge(confirmation[columns], on=KEYS, how="outer", suffixes=("_pilot", "_confirmed"))
    merged["dataset"] = merged["dataset_confirmed"].fillna(merged["dataset_pilot"])
    merged["in_both"] = merged["verdict_pilot"].notna() & merged["verdict_confirmed"].notna()
    merged["flipped"] = merged["in_both"] & (merged["verdict_pilot"] != merged["verdict_confirmed"])
    for side in ("pilot", "confirmed"):
        merged[f"verdict_{side}"] = merged[f"verdict_{side}"].fillna("not run")
    return merged


def _effect(value, seeds) -> str:
    return "-" if pd.isna(value) or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g} ({seeds:.0f})"


def render(rows: pd.DataFrame) -> str:
    """A markdown table; flipped verdicts in bold."""
    lines = ["| claim | dataset | test | pilot: effect (seeds) | verdict | confirmation: effect (seeds) | verdict |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows.itertuples():
        mark = "**" if r.flipped else ""
        lines.append(
            f"| {r.claim} | {r.dataset} | {r.test} | {_effect(r.effect_pilot, r.n_seeds_pilot)} | {r.verdict_pilot} "
            f"| {_effect(r.effect_confirmed, r.n_seeds_confirmed)} | {mark}{r.verdict_confirmed}{mark} |"
        )
    flips, compared = int(rows["flipped"].sum()), int(rows["in_both"].sum())
    lines.append(f"\n{flips} of {compared} verdicts flipped between the pilot and the confirmation.")
    if compared < len(rows):
        lines.append(f"{len(rows) - compared} tests were run in one of them only.")
    return "\n".join(lines)


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dpharm.tools.flips", description=__doc__.split("\n\n")[1])
    parser.add_argument("pilot", type=Path, help="the pilot's claim_tests.csv (e.g. results/pilot/claim_tests.csv)")
    parser.add_argument("confirmation", type=Path, help="the confirmatory run's claim_tests.csv")
    parser.add_argument("--dataset", help="compare only this dataset's tests (e.g. fashion_mnist)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = argument_parser().parse_args(argv)
    try:
        pilot, confirmation = pd.read_csv(args.pilot), pd.read_csv(args.confirmation)
    except (OSError, pd.errors.ParserError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dataset is not None:
        if args.dataset not in set(pilot["dataset"]) | set(confirmation["dataset"]):
            print(f"error: --dataset {args.dataset}: no test in either file", file=sys.stderr)
            return 2
        pilot, confirmation = (table[table["dataset"] == args.dataset] for table in (pilot, confirmation))
    print(render(compare(pilot, confirmation)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
