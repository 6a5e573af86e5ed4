"""Seeds a claim test needs: `python -m dpharm.tools.power [results/tables/claim_tests.csv]`.

Reads the committed claim tests as a pilot and prints, per test, the seeds at which a test
whose true effect and seed-to-seed spread equal the pilot's reaches a decisive verdict with
80% power at the claims' 95% confidence: the smallest n with

    (t_{0.975, n-1} + t_{0.80, n-1}) * sd / sqrt(n) <= distance,

sd the per-seed standard deviation recovered from the pilot's Student-t interval, and distance
how far the pilot effect lies from the boundary that decides its verdict (0 for a mean at or
above the threshold of an `effect` test, the threshold otherwise). Pooled tests (bootstrap
intervals) are scaled the same way, as if their interval shrank as 1/sqrt(n); tests without an
interval are skipped.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
from scipy import stats

POWER, CONFIDENCE = 0.80, 0.95


def seed_spread(row) -> float:
    """The per-seed sd behind a Student-t interval of `row.n_seeds` seeds."""
    n = int(row.n_seeds)
    half_width = (row.ci_high - row.ci_low) / 2
    return half_width * math.sqrt(n) / stats.t.ppf((1 + CONFIDENCE) / 2, n - 1)


def distance_to_decision(row) -> float:
    """How far the effect lies from the interval bound that decides its verdict."""
    if row.rule == "effect" and row.effect >= row.min_effect:
        return row.effect  # reproduced once the interval excludes 0
    return abs(row.effect - row.min_effect)


def seeds_needed(spread: float, distance: float, largest: int = 1000) -> int | None:
    """The smallest n >= 2 with 80% power to keep the interval off the decision bound."""
    for n in range(2, largest + 1):
        quantiles = stats.t.ppf((1 + CONFIDENCE) / 2, n - 1) + stats.t.ppf(POWER, n - 1)
        if quantiles * spread / math.sqrt(n) <= distance:
            return n
    return None


def power_table(tests: pd.DataFrame) -> pd.DataFrame:
    """One row per claim test with an interval: pilot seeds, sd, distance and seeds needed."""
    rows = []
    for row in tests.dropna(subset=["effect", "ci_low", "ci_high", "n_seeds"]).itertuples():
        spread, distance = seed_spread(row), distance_to_decision(row)
        rows.append({
            "claim": row.claim, "experiment": row.experiment, "test": row.test, "verdict": row.verdict,
            "pilot_seeds": int(row.n_seeds), "sd": spread, "distance": distance,
            "seeds_needed": seeds_needed(spread, distance),
        })  # fmt: skip
    return pd.DataFrame(rows)


COLUMNS = ["claim", "experiment", "test", "verdict", "rule", "effect", "ci_low", "ci_high", "n_seeds", "min_effect"]


def argument_parser() -> argparse.ArgumentParser:
    """The command line of `python -m dpharm.tools.power`."""
    parser = argparse.ArgumentParser(
        prog="python -m dpharm.tools.power",
        description=__doc__.split("\n", 1)[1].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "tests",
        nargs="?",
        default="results/tables/claim_tests.csv",
        help="claim tests table as the claims stage writes it (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Print the seeds each claim test needs; a missing or malformed table is a usage error (exit 2)."""
    parser = argument_parser()
    arguments = parser.parse_args(argv)
    path = Path(arguments.tests)
    if not path.is_file():
        parser.error(f"no such file: {path} (the claims stage writes it: snakemake --config from_tables=True)")
    try:
        tests = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        parser.error(f"{path} is not a CSV table: {err}")
    missing = [column for column in COLUMNS if column not in tests.columns]
    if missing:
        parser.error(f"{path} is not a claim tests table: it lacks the columns {', '.join(missing)}")
    table = power_table(tests)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
