"""One end-to-end run of the small configuration (config/small.yaml), then reruns, a kill and
damaged files on its outputs. In a file of its own, so that pytest-xdist runs it beside the other
tests' files."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from dpharm.setup.config import load_yaml, merge
from dpharm.setup.plan import Plan
from helpers import EXPERIMENTS, REPO, SMALL_WORKDIR, copy_workflow, snakemake

CLAIM_COLUMNS = [
    "claim",
    "experiment",
    "dataset",
    "statement",
    "metric",
    "effect",
    "ci_low",
    "ci_high",
    "n_seeds",
    "verdict",
    "fw_verdict",
]
CONTRACT_COLUMNS = ["experiment", "dataset", "seed", "epsilon", "noise_multiplier", "group", "metric", "value"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    # minutes alone on 2 cores; the time limit only stops a hang, with room for a busy machine
    result = snakemake(workdir, "--configfile", "config/small.yaml", timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


@pytest.mark.slow
def test_small_configuration_runs_end_to_end(small_run):
    for experiment in EXPERIMENTS:
        table = pd.read_csv(small_run / SMALL_WORKDIR / "results" / "tables" / f"{experiment}.csv")
        assert set(CONTRACT_COLUMNS) <= set(table.columns)
        assert set(table["experiment"]) == {experiment}
        assert set(table["dataset"]) == {"digits" if experiment.startswith("real_") else "synthetic"}
        assert set(table["seed"]) == {0, 1}
        # the only missing values: the prediction, where it does not apply (non-private, or fine-tuned)
        missing = table[table["value"].isna()]
        assert (missing["metric"] == "fnr_predicted").all()
        assert (np.isinf(missing["epsilon"]) | missing["condition"].str.contains("init=pretrained")).all()
        assert {"test_loss", "test_accuracy", "adversarial_loss"} <= set(table["metric"])
        has_fnr = {"fnr_measured", "fnr_predicted"} <= set(table["metric"])
        assert has_fnr != experiment.startswith("real_")  # the FNR needs the synthetic features
        for suffix in ("pdf", "png"):
            figure = small_run / SMALL_WORKDIR / "results" / "figures" / f"{experiment}.{suffix}"
            assert figure.stat().st_size > 1000
    table = pd.read_csv(small_run / SMALL_WORKDIR / "results" / "tables" / "class_imbalance.csv")
    assert (table.loc[table["epsilon"] == float("inf"), "noise_multiplier"] == 0).all()
    assert {"test_accuracy_change", "test_loss_change"} <= set(table["metric"])
    private = table[table["epsilon"] < float("inf")]
    assert (private["epsilon_spent"] <= private["epsilon"] * 1.001).all()
    transition = pd.read_csv(small_run / SMALL_WORKDIR / "results" / "tables" / "fnr_transition.csv")
    assert {"fnr_measured", "fnr_predicted", "test_loss", "test_accuracy"} <= set(transition.columns)
    assert (transition["fnr_measured"].notna()).all() and len(transition) > 0


@pytest.mark.slow
def test_claims_table_has_a_verdict_per_claim(small_run):
    claims = pd.read_csv(small_run / SMALL_WORKDIR / "results" / "claims.csv")
    assert list(claims.columns) == CLAIM_COLUMNS
    assert set(zip(claims["claim"], claims["dataset"], strict=False)) == {
        *((c, "synthetic") for c in ("C1", "C2", "C3", "C4", "C5", "C6", "privacy")),
        *((c, "digits") for c in ("C2", "C3", "C4", "C5")),
    }
    audit = pd.read_csv(small_run / SMALL_WORKDIR / "results" / "tables" / "privacy_audit.csv")
    assert {"mechanism", "epsilon_accountant", "epsilon_lower_bound", "confidence", "n_trials"} <= set(audit.columns)
    assert set(claims["verdict"]) <= {"reproduced", "not reproduced", "inconclusive"}
    assert "| C2 |" in (small_run / SMALL_WORKDIR / "results" / "claims.md").read_text()


@pytest.mark.slow
def test_every_run_records_its_provenance(small_run):
    files = sorted((small_run / SMALL_WORKDIR / "results" / "runs").glob("*/*/seed*/metrics.json"))
    config = merge(load_yaml(REPO / "config.yaml"), load_yaml(REPO / "config" / "small.yaml"))
    plan = Plan(config)
    assert len(files) == len(config["seeds"]) * len(plan.train_jobs)
    seed_files = [json.loads(path.read_text()) for path in files]
    runs = [run for seed_file in seed_files for run in seed_file["runs"]]
    assert len(runs) == len(config["seeds"]) * len(plan.conditions)  # every seed of every condition, once
    for seed_file in seed_files:
        assert {"git", "packages", "device"} <= set(seed_file["provenance"])
        assert seed_file["provenance"]["packages"]["opacus"]
    for run in runs:
        assert {
            "condition",
            "params",
            "epsilon_target",
            "epsilon_spent",
            "delta",
            "accountant",
            "noise_multiplier",
        } <= set(run)
        assert run["epsilon_target"] == run["params"]["training"]["epsilon"]
    pretrained = [f for f in seed_files if "init=pretrained" in f["runs"][0]["condition"]]
    assert pretrained and all(f["pretrained_from"].startswith("results/pretrained/") for f in pretrained)


@pytest.mark.slow
def test_rerun_is_a_no_op(small_run):
    result = snakemake(small_run, "--configfile", "config/small.yaml", "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_run_provenance_and_html_report(small_run):
    # each configuration keeps its own record: config/small.yaml's is provenance.small.json
    record = json.loads((small_run / SMALL_WORKDIR / "results" / "provenance.small.json").read_text())
    assert {"git", "packages", "device", "created_utc", "config_sha256"} <= set(record)
    assert len(record["config_sha256"]) == 64 and "dirty" in record["git"]
    assert record["configuration"]["config_files"] == ["config/small.yaml", "config.yaml"]
    assert "results/tables/class_imbalance.csv" in record["configuration"]["tables_made"]
    assert not (small_run / SMALL_WORKDIR / "results" / "provenance.json").exists()
    result = snakemake(small_run, "--configfile", "config/small.yaml", "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (small_run / SMALL_WORKDIR / "report.html").read_text(errors="replace")  # in the working folder
    for text in ("Claim C2", "Claim C5", "Privacy correctness", "provenance.small.json", "claims.html"):
        assert text in html


# The tests below rerun parts of the small run; they come last because they touch its files.


def _class_imbalance_outputs(workdir) -> dict[str, bytes]:
    paths = [
        workdir / SMALL_WORKDIR / "results" / "tables" / "class_imbalance.csv",
        *sorted((workdir / SMALL_WORKDIR / "results" / "runs" / "class_imbalance").glob("*/evaluation.csv")),
    ]
    return {str(p.relative_to(workdir)): p.read_bytes() for p in paths}


@pytest.mark.slow
def test_same_config_and_seed_give_byte_identical_tables(small_run):
    before = _class_imbalance_outputs(small_run)
    result = snakemake(
        small_run, "results/tables/class_imbalance.csv", "--forcerun", "dataset", "--configfile", "config/small.yaml"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train" in result.stdout + result.stderr  # it really retrained
    assert _class_imbalance_outputs(small_run) == before


@pytest.mark.slow
def test_training_killed_with_sigkill_then_rerun_gives_complete_correct_outputs(small_run):
    before = _class_imbalance_outputs(small_run)
    logs = small_run / SMALL_WORKDIR / "results" / "logs" / "train" / "class_imbalance"
    started = time.time()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--cores",
            "1",
            "results/tables/class_imbalance.csv",
            "--forcerun",
            "train",
            "--configfile",
            "config/small.yaml",
        ],
        cwd=small_run,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while time.time() - started < 120 and not any(p.stat().st_mtime > started for p in logs.glob("*.log")):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the training job and Snakemake with it
    process.wait()
    # A killed Snakemake leaves its lock behind (in the config's working folder); the user's next
    # step is --unlock with the same configuration.
    assert snakemake(small_run, "--unlock", "--configfile", "config/small.yaml").returncode == 0
    result = snakemake(small_run, "results/tables/class_imbalance.csv", "--configfile", "config/small.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert _class_imbalance_outputs(small_run) == before
    assert not list((small_run / SMALL_WORKDIR / "results").rglob("*.tmp")), "no temporary file left behind"


@pytest.mark.slow
def test_deleted_results_are_rebuilt_by_a_plain_rerun(small_run):
    results = small_run / SMALL_WORKDIR / "results"
    table = results / "tables" / "long_tail.csv"
    metrics = next((results / "runs" / "long_tail").glob("*/seed1/metrics.json"))
    before = table.read_bytes()
    table.unlink()
    metrics.unlink()
    result = snakemake(small_run, "--configfile", "config/small.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert metrics.exists() and table.read_bytes() == before  # retrained, and the table the same byte for byte
    # the SIGKILL test's interrupted --forcerun train removed class_imbalance's checkpoints and
    # metrics; its rerun of one table did not need them, a plain rerun rebuilds them
    for job in (results / "runs" / "class_imbalance").glob("*/evaluation.csv"):
        assert all((job.parent / f"seed{seed}" / "metrics.json").exists() for seed in (0, 1)), job.parent


@pytest.mark.slow
def test_corrupted_intermediate_file_stops_with_a_clear_error(small_run):
    dataset = next((small_run / SMALL_WORKDIR / "results" / "data" / "class_imbalance").glob("*/seed0.npz"))
    original = dataset.read_bytes()
    dataset.write_bytes(original[:5000])
    result = snakemake(small_run, "results/tables/class_imbalance.csv", "--configfile", "config/small.yaml")
    assert result.returncode != 0
    assert "not a readable .npz file" in result.stdout + result.stderr
    assert f"{dataset}: " in result.stdout + result.stderr  # named by its absolute path
    assert "removed it, so that a plain rerun remakes it" in result.stdout + result.stderr
    logs = (small_run / SMALL_WORKDIR / "results" / "logs").rglob("*.log")
    failed = [log for log in logs if "not a readable .npz file" in log.read_text(errors="replace")]
    assert failed and "Traceback" in failed[0].read_text()  # the traceback is in the job's own log
    # the job removed the damaged file, so a plain rerun remakes it (the dataset alone, to keep the test short)
    rerun = snakemake(
        small_run, str(dataset.relative_to(small_run / SMALL_WORKDIR)), "--configfile", "config/small.yaml"
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert dataset.read_bytes() == original
