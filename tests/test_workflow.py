"""The workflow's plan, and one end-to-end run of the small configuration."""

import json
import re

import pandas as pd
import pytest

from helpers import copy_workflow, snakemake

STAGES = ["synthetic_data", "pretrain", "train", "evaluate", "aggregate", "figure", "all"]
EXPERIMENTS = ["utility_vs_noise", "class_imbalance", "pretraining_shift"]
CONTRACT_COLUMNS = ["experiment", "dataset", "seed", "epsilon", "noise_multiplier", "group", "metric", "value"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("workflow"))
    result = snakemake(workdir, "--configfile", "config/small.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def jobs_by_rule(dry_run_output: str) -> dict[str, list[str]]:
    blocks = re.split(r"\n(?=rule |localrule )", dry_run_output)
    jobs: dict[str, list[str]] = {}
    for block in blocks:
        match = re.match(r"(?:local)?rule (\w+):", block)
        if match:
            jobs.setdefault(match.group(1), []).append(block)
    return jobs


def test_dry_run_plans_every_stage_and_training_asks_for_a_gpu(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "-n")
    assert result.returncode == 0, result.stderr
    jobs = jobs_by_rule(result.stdout)
    assert set(STAGES) <= set(jobs)
    for rule in ("train", "pretrain"):
        assert all(re.search(r"resources:.*gpu=1", block) for block in jobs[rule])
    for rule in ("synthetic_data", "evaluate", "aggregate", "figure"):
        assert not any("gpu=1" in block for block in jobs[rule])
    for experiment in EXPERIMENTS:
        assert f"results/figures/{experiment}.pdf" in result.stdout


def test_default_profile_serialises_gpu_jobs(repo):
    profile = (repo / "profiles" / "default" / "config.yaml").read_text()
    assert re.search(r"gpu=1", profile)


@pytest.mark.slow
def test_small_configuration_runs_end_to_end(small_run):
    for experiment in EXPERIMENTS:
        table = pd.read_csv(small_run / "results" / "tables" / f"{experiment}.csv")
        assert set(CONTRACT_COLUMNS) <= set(table.columns)
        assert set(table["experiment"]) == {experiment}
        assert set(table["seed"]) == {0, 1}
        assert table["value"].notna().all()
        assert {"test_loss", "test_accuracy", "adversarial_loss", "fnr_measured", "fnr_predicted"} <= set(table["metric"])
        for suffix in ("pdf", "png"):
            figure = small_run / "results" / "figures" / f"{experiment}.{suffix}"
            assert figure.stat().st_size > 1000
    table = pd.read_csv(small_run / "results" / "tables" / "class_imbalance.csv")
    assert (table.loc[table["epsilon"] == float("inf"), "noise_multiplier"] == 0).all()
    assert {"test_accuracy_change", "test_loss_change"} <= set(table["metric"])
    private = table[table["epsilon"] < float("inf")]
    assert (private["epsilon_spent"] <= private["epsilon"] * 1.001).all()


@pytest.mark.slow
def test_every_run_records_its_provenance(small_run):
    metrics = sorted((small_run / "results" / "runs").glob("*/*/seed*/metrics.json"))
    assert len(metrics) == 2 * (2 + 4 + 4)  # seeds x conditions of the small configuration
    for path in metrics:
        record = json.loads(path.read_text())
        assert {"seed", "params", "epsilon_spent", "delta", "accountant", "noise_multiplier"} <= set(record)
        assert {"git", "packages", "device"} <= set(record["provenance"])
        assert record["provenance"]["packages"]["opacus"]
    pretrained = [json.loads(p.read_text()) for p in metrics if "init=pretrained" in str(p)]
    assert pretrained and all(r["pretrained_from"].startswith("results/pretrained/") for r in pretrained)


@pytest.mark.slow
def test_rerun_is_a_no_op(small_run):
    result = snakemake(small_run, "--configfile", "config/small.yaml", "-n")
    assert "Nothing to be done" in result.stdout + result.stderr
