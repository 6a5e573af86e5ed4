"""The workflow's plan: dry runs, and figures redrawn from the committed tables."""

import re
import shutil

from dpharm.setup.runtime import gpus_per_training_job
from helpers import EXPERIMENTS, REPO, copy_workflow, snakemake

STAGES = [
    "raw_images",
    "dataset",
    "pretrain",
    "train",
    "evaluate",
    "privacy_audit",
    "aggregate",
    "fnr_transition",
    "claims",
    "verdicts",
    "figure",
    "provenance",
    "all",
]


def jobs_by_rule(dry_run_output: str) -> dict[str, list[str]]:
    blocks = re.split(r"\n(?=rule |localrule )", dry_run_output)
    jobs: dict[str, list[str]] = {}
    for block in blocks:
        match = re.match(r"(?:local)?rule (\w+):", block)
        if match:
            jobs.setdefault(match.group(1), []).append(block)
    return jobs


def test_dry_run_plans_every_stage_and_training_asks_for_a_gpu_where_there_is_one(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "-n")
    assert result.returncode == 0, result.stderr
    jobs = jobs_by_rule(result.stdout)
    assert set(STAGES) <= set(jobs)
    expected = gpus_per_training_job("auto")  # 0 on a machine without a CUDA driver: side by side
    for rule in ("train", "pretrain"):
        assert all(re.search(rf"resources:.*gpu={expected}", block) for block in jobs[rule])
    for rule in ("raw_images", "dataset", "evaluate", "privacy_audit", "aggregate", "figure", "claims"):
        assert not any("gpu=1" in block for block in jobs[rule])
    for name in EXPERIMENTS + ["fnr_transition", "privacy_audit"]:
        assert f"results/figures/{name}.pdf" in result.stdout


def test_a_fresh_clone_redraws_figures_and_verdicts_from_the_committed_tables_alone(tmp_path):
    """With from_tables, only the committed tables are needed (no data, model or evaluation
    file): the plan holds figure and claims jobs only, and what they draw is byte-identical
    to the committed files."""
    workdir = copy_workflow(tmp_path)
    for committed in ("tables", "confirmation"):
        shutil.copytree(REPO / "results" / committed, workdir / "results" / committed)
    targets = ["results/claims.csv", "results/tables/claim_tests.csv", "results/figures/class_imbalance.png",
               "results/figures/verdict_matrix.png", "results/claims.html"]  # fmt: skip
    plan = snakemake(workdir, "-n", "--config", "from_tables=True")
    assert plan.returncode == 0, plan.stderr
    assert set(jobs_by_rule(plan.stdout)) == {"figure", "claims", "verdicts", "all"}  # no provenance.json here
    assert "results/figures/fashion_long_tail.pdf" in plan.stdout  # switched off, yet committed
    result = snakemake(workdir, "--config", "from_tables=True", "--", *targets)
    assert result.returncode == 0, result.stderr[-4000:]
    for target in targets:
        assert (workdir / target).read_bytes() == (REPO / target).read_bytes(), target
    assert not (workdir / "results" / "runs").exists()


def test_one_figure_plans_only_its_experiment(tmp_path):
    """A figure judges its verdicts from its own table: asking for it trains nothing else."""
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "-n", "results/figures/class_imbalance.pdf")
    assert result.returncode == 0, result.stderr
    assert set(jobs_by_rule(result.stdout)) == {"dataset", "train", "evaluate", "aggregate", "figure"}
    assert "experiment=utility_vs_noise" not in result.stdout


def test_default_profile_serialises_gpu_jobs(repo):
    profile = (repo / "profiles" / "default" / "config.yaml").read_text()
    assert re.search(r"gpu=1", profile)
