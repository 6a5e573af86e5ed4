"""The artifact reviewer's check: fresh vs reference results folders."""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dpharm.tools.compare_results import compare_results, main, reference_files

INF = math.inf
NAN = math.nan


def long_table() -> pd.DataFrame:
    """Two epsilons (one non-private), two groups, clean and attack metrics."""
    rows = []
    for epsilon, spent, sigma, accountant in [(INF, INF, 0.0, "none"), (1.0, 0.98, 1.2, "rdp")]:
        for group in ["class0", "class1"]:
            base = 0.1 if group == "class0" else 0.2
            metrics = [
                ("test_loss", NAN, 0.5 + base + (0 if math.isinf(epsilon) else 0.3)),
                ("test_accuracy", NAN, 0.9 - base),
                ("fnr_measured", NAN, base),
                ("adversarial_loss", 0.1, 1.0 + base),
                ("adversarial_loss", 0.2, 1.5 + base),
                ("adversarial_accuracy", 0.1, 0.5 - base),
            ]
            rows += [
                {
                    "experiment": "width",
                    "dataset": "synthetic",
                    "condition": f"eps{epsilon}",
                    "seed": 0,
                    "epsilon": epsilon,
                    "epsilon_spent": spent,
                    "delta": 1e-5,
                    "accountant": accountant,
                    "noise_multiplier": sigma,
                    "sweep": "width",
                    "width": 64,
                    "group": group,
                    "metric": metric,
                    "attack_radius": radius,
                    "value": value,
                }
                for metric, radius, value in metrics
            ]
    return pd.DataFrame(rows)


def claims_table() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "claim": "C1",
                "experiment": "width",
                "dataset": "synthetic",
                "statement": "DP raises the loss",
                "metric": "loss_gap: test_loss change",
                "effect": 0.3,
                "ci_low": 0.25,
                "ci_high": 0.35,
                "n_seeds": 3,
                "verdict": "reproduced",
            },
            {
                "claim": "C2",
                "experiment": "width",
                "dataset": "synthetic",
                "statement": "DP hurts robustness",
                "metric": "adv_gap: adversarial loss",
                "effect": 0.01,
                "ci_low": -0.02,
                "ci_high": 0.04,
                "n_seeds": 3,
                "verdict": "inconclusive",
            },
        ]
    )


def write_results(folder: Path) -> Path:
    (folder / "tables").mkdir(parents=True)
    long_table().to_csv(folder / "tables" / "width.csv", index=False, float_format="%.10g")
    pd.DataFrame(
        {
            "mechanism": ["dp-sgd", "no-noise"],
            "epsilon_accountant": [1.0, 1.0],
            "epsilon_lower_bound": [0.4, 3.2],
            "confidence": [0.95, 0.95],
            "n_trials": [200, 200],
        }
    ).to_csv(folder / "tables" / "privacy_audit.csv", index=False)
    claims_table().to_csv(folder / "claims.csv", index=False)
    (folder / "provenance.json").write_text('{"config_sha256": "abc"}')
    return folder


@pytest.fixture()
def folders(tmp_path) -> tuple[Path, Path]:
    return write_results(tmp_path / "fresh"), write_results(tmp_path / "reference")


def edit_long(folder: Path, metric: str, delta: float) -> None:
    path = folder / "tables" / "width.csv"
    table = pd.read_csv(path)
    table.loc[table["metric"] == metric, "value"] += delta
    table.to_csv(path, index=False, float_format="%.10g")


def failed(checks: pd.DataFrame) -> pd.DataFrame:
    return checks[~checks["passed"]]


def check(checks: pd.DataFrame, file: str, name: str) -> pd.Series:
    row = checks[(checks["file"] == file) & (checks["check"] == name)]
    assert len(row) == 1, checks
    return row.iloc[0]


def test_identical_folders_pass(folders):
    checks = compare_results(*folders)
    assert checks["passed"].all(), failed(checks)
    assert list(checks.columns) == ["file", "check", "rows", "mismatches", "max_abs_diff", "passed"]
    # inf epsilon / epsilon_spent and NaN attack radii align and compare equal
    assert check(checks, "tables/width.csv", "test_loss")["rows"] == 4
    assert check(checks, "tables/width.csv", "adversarial_loss")["rows"] == 8
    assert check(checks, "tables/width.csv", "epsilon_spent")["max_abs_diff"] == 0.0
    assert check(checks, "claims.csv", "verdict")["rows"] == 2


def test_change_beyond_tolerance_fails_that_metric_only(folders):
    fresh, reference = folders
    edit_long(fresh, "test_loss", 0.01)
    checks = compare_results(fresh, reference)
    bad = failed(checks)
    assert list(zip(bad["file"], bad["check"], strict=False)) == [("tables/width.csv", "test_loss")]
    assert bad.iloc[0]["mismatches"] == 4
    assert bad.iloc[0]["max_abs_diff"] == pytest.approx(0.01)


def test_change_within_loosened_yaml_tolerance_passes(folders, tmp_path, capsys):
    fresh, reference = folders
    edit_long(fresh, "test_loss", 0.01)
    loose = tmp_path / "tolerances.yaml"
    loose.write_text("default: {abs: 1.0e-6, rel: 1.0e-6}\nmetrics:\n  test_loss: {abs: 0.05, rel: 0.1}\n")
    assert main([str(fresh), str(reference), "--tolerances", str(loose)]) == 0
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == "PASS"
    # the tolerance is per metric: loosening another metric does not help
    assert not compare_results(fresh, reference, {"metrics": {"test_accuracy": {"abs": 1.0}}})["passed"].all()


def test_flipped_verdict_fails_even_when_numbers_match(folders):
    fresh, reference = folders
    claims = claims_table()
    claims.loc[1, "verdict"] = "not reproduced"
    claims.to_csv(fresh / "claims.csv", index=False)
    checks = compare_results(fresh, reference, {"default": {"abs": 1e3, "rel": 1e3}})
    bad = failed(checks)
    assert list(zip(bad["file"], bad["check"], strict=False)) == [("claims.csv", "verdict")]
    assert bad.iloc[0]["mismatches"] == 1


def test_claim_effect_uses_effect_tolerance(folders):
    fresh, reference = folders
    claims = claims_table()
    claims["effect"] += 0.01
    claims.to_csv(fresh / "claims.csv", index=False)
    assert not check(compare_results(fresh, reference), "claims.csv", "effect")["passed"]
    assert compare_results(fresh, reference, {"metrics": {"effect": {"abs": 0.02}}})["passed"].all()


def test_missing_table_fails(folders):
    fresh, reference = folders
    (fresh / "tables" / "privacy_audit.csv").unlink()
    bad = failed(compare_results(fresh, reference))
    assert list(zip(bad["file"], bad["check"], strict=False)) == [("tables/privacy_audit.csv", "file present")]


@pytest.mark.parametrize("side", ["fresh", "reference"])
def test_row_on_one_side_only_fails(folders, side):
    fresh, reference = folders
    path = (fresh if side == "fresh" else reference) / "tables" / "width.csv"
    table = pd.read_csv(path)
    extra = table.iloc[[0]].assign(seed=1)
    pd.concat([table, extra]).to_csv(path, index=False, float_format="%.10g")
    bad = failed(compare_results(fresh, reference))
    assert len(bad) == 1
    assert bad.iloc[0]["check"] == (
        f"rows aligned (only fresh {int(side == 'fresh')}, only reference {int(side == 'reference')})"
    )
    assert bad.iloc[0]["mismatches"] == 1


def test_nan_versus_number_fails(folders):
    fresh, reference = folders
    path = fresh / "tables" / "privacy_audit.csv"
    table = pd.read_csv(path)
    table.loc[0, "epsilon_lower_bound"] = NAN
    table.to_csv(path, index=False, float_format="%.10g")
    checks = compare_results(fresh, reference, {"default": {"abs": 1e3}})
    row = check(checks, "tables/privacy_audit.csv", "epsilon_lower_bound")
    assert not row["passed"] and row["max_abs_diff"] == INF


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda text: text.replace(",0.6\n", ",\n", 1), "value at line 2 is blank"),
        (lambda text: text.replace(",0.6\n", ",0.6x\n", 1), "value '0.6x' at line 2 is not a number"),
        (lambda text: text[:-3], "the last line is cut short"),
    ],
    ids=["blank", "text", "cut"],
)
def test_a_damaged_table_is_one_failed_check_naming_the_problem(folders, damage, problem):
    """The review reads through the pipeline's strict reader: damage is named, not compared as NaN."""
    fresh, reference = folders
    path = fresh / "tables" / "width.csv"
    path.write_text(damage(path.read_text()))
    bad = failed(compare_results(fresh, reference))
    assert len(bad) == 1 and bad.iloc[0]["file"] == "tables/width.csv"
    assert problem in bad.iloc[0]["check"] and str(path.resolve()) in bad.iloc[0]["check"]


def test_cli_exit_codes(folders, tmp_path, capsys):
    fresh, reference = folders
    assert main([str(fresh), str(reference)]) == 0
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == "PASS"

    edit_long(fresh, "adversarial_accuracy", 0.5)
    assert main([str(fresh), str(reference)]) == 1
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == "FAIL: 1 checks failed"

    assert main([str(tmp_path / "nowhere"), str(reference)]) == 2
    assert "does not exist" in capsys.readouterr().err

    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("metrics: {test_loss: [unclosed\n")
    assert main([str(fresh), str(reference), "--tolerances", str(bad_yaml)]) == 2
    assert "tolerance file" in capsys.readouterr().err

    bad_values = tmp_path / "negative.yaml"
    bad_values.write_text("metrics: {test_loss: {abs: -1}}\n")
    assert main([str(fresh), str(reference), "--tolerances", str(bad_values)]) == 2
    assert main([str(fresh), str(reference), "--tolerances", str(tmp_path / "absent.yaml")]) == 2
    assert main([str(fresh)]) == 2  # argparse usage error


def test_cli_subprocess(folders):
    fresh, reference = folders
    command = [sys.executable, "-m", "dpharm.review", str(fresh), str(reference)]
    passing = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert passing.returncode == 0, passing.stderr
    assert passing.stdout.rstrip().splitlines()[-1] == "PASS"

    shutil.rmtree(fresh / "tables")
    failing = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert failing.returncode == 1, failing.stderr
    assert failing.stdout.rstrip().splitlines()[-1] == "FAIL: 2 checks failed"


def test_a_value_against_an_infinite_reference_must_be_that_infinity(folders):
    fresh, reference = folders
    path = fresh / "tables" / "width.csv"
    table = pd.read_csv(path)
    table.loc[table["epsilon_spent"] == INF, "epsilon_spent"] = 3.0  # a non-private run claiming epsilon 3
    table.to_csv(path, index=False, float_format="%.10g")
    row = check(
        compare_results(fresh, reference, {"default": {"abs": 1.0, "rel": 1.0}}), "tables/width.csv", "epsilon_spent"
    )
    assert not row["passed"] and row["mismatches"] == 12


def test_results_of_different_configurations_are_flagged(folders, capsys):
    fresh, reference = folders
    (fresh / "provenance.json").write_text('{"config_sha256": "other"}')
    checks = compare_results(fresh, reference)
    assert not check(checks, "provenance.json", "config_sha256")["passed"]
    assert main([str(fresh), str(reference)]) == 1
    assert "different configurations" in capsys.readouterr().out


def test_the_review_says_which_tables_the_fresh_run_rebuilt_and_which_it_carried_over(folders, capsys):
    fresh, reference = folders
    compared = [name for name in reference_files(reference) if name.startswith("tables/")]
    assert len(compared) >= 2
    configuration = {"tables_made": [f"results/{compared[0]}"], "tables_carried_over": [f"results/{compared[1]}"]}
    # an overlay's run: its own record, named on the command line
    for folder in (fresh, reference):
        (folder / "provenance.fair_dpsgd.json").write_text(json.dumps({"config_sha256": "abc"}))
    (fresh / "provenance.fair_dpsgd.json").write_text(
        json.dumps({"config_sha256": "abc", "configuration": configuration})
    )
    main([str(fresh), str(reference), "--record", "provenance.fair_dpsgd.json"])
    out = capsys.readouterr().out
    assert f"Made by the fresh run's configuration and compared: 1 of {len(compared)} tables." in out
    assert "Carried over, not made by the fresh run's configuration" in out
    assert compared[1] in out.split("Carried over")[1]
    main([str(fresh), str(reference)])  # provenance.json: a record without the lists
    assert "does not list the tables it made" in capsys.readouterr().out


def test_results_of_different_cpus_are_noted(folders, capsys):
    # float32 kernels differ in their last bits between CPUs (an AVX-512 Xeon, an AVX2-only EPYC)
    fresh, reference = folders
    (fresh / "provenance.json").write_text('{"config_sha256": "abc", "cpu": "AMD EPYC", "cpu_capability": "AVX2"}')
    (reference / "provenance.json").write_text(
        '{"config_sha256": "abc", "cpu": "Intel(R) Xeon(R) Processor", "cpu_capability": "AVX512"}'
    )
    assert main([str(fresh), str(reference)]) == 0
    out = capsys.readouterr().out
    assert "different machines" in out and "'AVX2' vs reference 'AVX512'" in out
    (fresh / "provenance.json").write_text((reference / "provenance.json").read_text())
    assert main([str(fresh), str(reference)]) == 0
    assert "different machines" not in capsys.readouterr().out
