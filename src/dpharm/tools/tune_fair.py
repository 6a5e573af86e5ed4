"""The learning rate of every fair DP-SGD method, DP-SGD included, from the tuning runs.

Reads the tuning table (`fair_dpsgd_tuning`, made by config/fair_dpsgd_tuning.yaml on tuning
seeds), prints every rate's mean worst-group and overall test accuracy, and the rate chosen per
design and method: the highest mean worst-group accuracy, the smaller rate on a tie
(`dpharm.experiments.fair_tuning`). With --check CONFIG, exits 1 unless that config's
`fair_dpsgd` sweeps pair each method with its chosen rate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml

from dpharm.experiments.fair_tuning import LEARNING_RATE, chosen_learning_rates, tuning_scores
from dpharm.setup.grids import grid_points

COMPARISON = "fair_dpsgd"


def configured_rates(config: dict) -> pd.DataFrame:
    """The (sweep, method, learning_rate) a config's fair_dpsgd experiment trains; a method's rate
    is the base training.learning_rate where its sweep does not set one."""
    experiment = config["experiments"][COMPARISON]
    base = experiment.get("training", {}).get(LEARNING_RATE, config["training"][LEARNING_RATE])
    key = f"training.{LEARNING_RATE}"
    rows = [
        {"sweep": sweep, "method": point["training.method"], LEARNING_RATE: point.get(key, base)}
        for sweep, grid in experiment["sweeps"].items()
        for point in grid_points(grid)
    ]
    return pd.DataFrame(rows).drop_duplicates().sort_values(["sweep", "method"]).reset_index(drop=True)


def disagreements(chosen: pd.DataFrame, configured: pd.DataFrame) -> list[str]:
    """Where a config's rates differ from the chosen ones, one line each."""
    merged = chosen.merge(configured, on=["sweep", "method"], how="outer", suffixes=("_chosen", "_configured"))
    lines = []
    for row in merged.itertuples():
        wanted, got = getattr(row, f"{LEARNING_RATE}_chosen"), getattr(row, f"{LEARNING_RATE}_configured")
        if not (pd.notna(wanted) and pd.notna(got) and float(wanted) == float(got)):
            lines.append(f"{row.sweep} / {row.method}: chosen {wanted}, configured {got}")
    return lines


def argument_parser() -> argparse.ArgumentParser:
    """The command line of `python -m dpharm.tools.tune_fair`."""
    parser = argparse.ArgumentParser(
        prog="python -m dpharm.tools.tune_fair",
        description=__doc__.split("\n", 1)[1].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "table",
        nargs="?",
        default="results/tables/fair_dpsgd_tuning.csv",
        help="the tuning table (default: %(default)s)",
    )
    parser.add_argument("--check", metavar="CONFIG", help="a config whose fair_dpsgd rates must be the chosen ones")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Print the scores and the choice; a missing table is a usage error (exit 2), a config that
    disagrees with the choice exits 1."""
    parser = argument_parser()
    arguments = parser.parse_args(argv)
    path = Path(arguments.table)
    if not path.is_file():
        parser.error(f"no such file: {path} (make it: snakemake --cores 2 --configfile config/fair_dpsgd_tuning.yaml)")
    table = pd.read_csv(path)
    pd.set_option("display.width", 200)
    print(tuning_scores(table).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    chosen = chosen_learning_rates(table)
    print("\nchosen:\n" + chosen.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if arguments.check:
        config = yaml.safe_load(Path(arguments.check).read_text())
        problems = disagreements(chosen, configured_rates(config))
        if problems:
            print(f"\n{arguments.check} disagrees with the choice:\n  " + "\n  ".join(problems), file=sys.stderr)
            sys.exit(1)
        print(f"\n{arguments.check}: every method trains at its chosen rate")


if __name__ == "__main__":
    main()
