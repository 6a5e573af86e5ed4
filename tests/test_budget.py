"""The size guard: each job's memory and time are estimated from the config, and a run with a
job too large for the machine (or the configured limits) is refused before any job."""

import copy
import math

import pytest

from dpharm.setup.budget import FLOAT, FLOPS_PER_SECOND, data_shape, plan_estimates, training_estimate
from dpharm.setup.config import ConfigError
from dpharm.setup.plan import Plan
from dpharm.setup.validation import validate_config
from helpers import copy_workflow, snakemake


def with_settings(config: dict, **sections) -> dict:
    config = copy.deepcopy(config)
    for section, values in sections.items():
        config[section].update(values)
    return config


@pytest.mark.parametrize(
    "section, key, value",
    [("data", "dimension", 10**9), ("data", "n_train", 10**9), ("model", "width", 10**9)],
)
def test_a_job_larger_than_the_machine_is_refused_with_its_estimate(default_config, section, key, value):
    config = with_settings(default_config, **{section: {key: value}}, training={"delta": 1e-12})
    with pytest.raises(
        ConfigError, match=r"needs about [\d.e+]+ GB of memory, above [\d.]+ GB \(this machine's memory"
    ):
        validate_config(config)


def test_a_job_of_years_is_refused_by_the_time_limit(default_config):
    config = with_settings(default_config, training={"steps": 10**9})
    with pytest.raises(ConfigError, match=r"train utility_vs_noise/.*needs about [\d.e+]+ hours .*'limits.job_hours'"):
        validate_config(config)


def test_the_limits_can_be_raised_and_lowered(default_config):
    large = with_settings(default_config, training={"steps": 10**7})
    with pytest.raises(ConfigError, match="limits.job_hours"):
        validate_config(large)
    validate_config(with_settings(large, limits={"job_hours": 10**6}))
    with pytest.raises(ConfigError, match=r"above 0.01 GB \(limits.memory_gb"):
        validate_config(with_settings(default_config, limits={"memory_gb": 0.01}))


def test_the_training_estimate_counts_the_stack_by_hand(default_config):
    """utility_vs_noise's default job: 5 seeds x 3 finite epsilons train as one stack of 15 models
    on n = 200 examples of 2 patches in d = 1000, K = 2 classes x m = 20 filters, full batch."""
    plan = Plan(default_config)
    job = next(c for (name, _), c in plan.train_jobs.items() if name == "utility_vs_noise")
    assert sorted(c.params["training"]["epsilon"] for c in job)[-1] == math.inf
    private = sum(math.isfinite(c.params["training"]["epsilon"]) for c in job)
    models, steps, n, tokens, d, filters = 5 * private, 200, 200, 2, 1000, 40
    batch = n + 4 * math.sqrt(n)
    per_model_flop = steps * batch * tokens * (6 * filters * d + tokens * (filters + d))
    nonprivate = 5 * (len(job) - private)
    estimate = training_estimate(job, seeds=5)
    assert estimate.seconds == pytest.approx((models + nonprivate) * per_model_flop / FLOPS_PER_SECOND)
    shape = data_shape(job[0].params)
    assert (shape.n_train, shape.patches, shape.dimension, shape.classes) == (n, tokens, d, 2)
    data = FLOAT * 5 * shape.examples * tokens * (d + tokens)
    stack = FLOAT * models * (batch * tokens * (d + tokens + 4 * filters) + 6 * filters * d)
    assert estimate.memory == pytest.approx(1e9 + data + stack)


def test_every_shipped_job_is_estimated_within_the_limits(default_config):
    estimates = plan_estimates(Plan(default_config), default_config["privacy_audit"])
    jobs = {estimate.job.split()[0] for estimate in estimates}
    assert jobs == {"dataset", "pretrain", "train", "evaluate", "privacy_audit"}
    assert max(e.seconds for e in estimates) < default_config["limits"]["job_hours"] * 3600


def test_an_oversized_run_stops_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "small_machine.yaml").write_text("limits: {memory_gb: 0.5, job_hours: 48}\n")
    result = snakemake(workdir, "-n", "--configfile", "small_machine.yaml")
    assert result.returncode != 0
    assert "GB of memory, above 0.5 GB (limits.memory_gb" in result.stderr + result.stdout
    assert not (workdir / "results" / "runs").exists()
