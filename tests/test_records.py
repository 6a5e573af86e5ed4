"""Metrics files: read back as written, and refused when they cannot be a run of this pipeline."""

import dataclasses
import json
import math

import pytest

from dpharm.io import CorruptFileError
from dpharm.training.privacy import epsilon_spent, verified_epsilon
from dpharm.training.records import Run, SeedMetrics, TrainingRecord

NOISE = 5.0
SPENT = epsilon_spent(NOISE, 1.0, 10, 1e-5, "rdp")  # what the private record's own numbers give


def record(epsilon_target: float, epsilon_spent: float, private: bool) -> TrainingRecord:
    return TrainingRecord(
        epsilon_target=epsilon_target,
        epsilon_spent=epsilon_spent,
        delta=1e-5 if private else None,
        accountant="rdp" if private else None,
        grad_sample_mode="fast" if private else None,
        noise_multiplier=NOISE if private else 0.0,
        sample_rate=1.0 if private else None,
        steps=10,
        train_loss=0.5,
        train_accuracy=0.8,
        train_seconds=1.0,
        models_in_stack=2,
        augmentation_multiplicity=1,
        private=private,
    )


@pytest.fixture
def metrics_file(tmp_path):
    runs = [Run("eps4", {}, {}, record(4.0, SPENT, True)), Run("nonprivate", {}, {}, record(math.inf, math.inf, False))]
    path = tmp_path / "metrics.json"
    SeedMetrics(0, "data.npz", None, {}, runs).write(path)
    return path


def test_a_metrics_file_reads_back_as_written(metrics_file):
    metrics = SeedMetrics.read(metrics_file)
    assert metrics.record("eps4", metrics_file).epsilon_spent == SPENT < 4.0
    assert math.isinf(metrics.record("nonprivate", metrics_file).epsilon_spent)


def test_a_missing_condition_is_named(metrics_file):
    with pytest.raises(CorruptFileError, match="no record of condition 'eps8'"):
        SeedMetrics.read(metrics_file).record("eps8", metrics_file)


@pytest.mark.parametrize(("condition", "spent"), [("eps4", 40.0), ("eps4", "nan"), ("nonprivate", 3.0)])
def test_a_run_that_does_not_fit_its_budget_is_refused(metrics_file, condition, spent):
    raw = json.loads(metrics_file.read_text())
    next(run for run in raw["runs"] if run["condition"] == condition)["epsilon_spent"] = spent
    metrics_file.write_text(json.dumps(raw))
    with pytest.raises(CorruptFileError, match="does not fit the target"):
        SeedMetrics.read(metrics_file).record(condition, metrics_file)


def test_a_truncated_metrics_file_is_refused(metrics_file):
    metrics_file.write_text(metrics_file.read_text()[:50])
    with pytest.raises(CorruptFileError, match="cannot read JSON.*plain rerun remakes it"):
        SeedMetrics.read(metrics_file)
    assert not metrics_file.exists()  # removed: a plain rerun retrains instead of repeating the failure


@pytest.mark.parametrize(("key", "value"), [("epsilon_spent", SPENT * 0.9), ("noise_multiplier", NOISE * 1.05),
                                            ("steps", 9), ("sample_rate", 0.9)])  # fmt: skip
def test_a_record_whose_epsilon_is_not_what_its_own_noise_gives_is_refused(metrics_file, key, value):
    raw = json.loads(metrics_file.read_text())
    next(run for run in raw["runs"] if run["condition"] == "eps4")[key] = value
    metrics_file.write_text(json.dumps(raw))
    with pytest.raises(CorruptFileError, match="is not what its noise multiplier") as error:
        verified_epsilon(SeedMetrics.read(metrics_file).record("eps4", metrics_file), metrics_file)
    assert str(error.value).startswith(f"{metrics_file.resolve()}: ") and not metrics_file.exists()


def test_the_applied_noise_is_a_fair_methods_gradient_noise_else_the_accountants():
    # fnr-balanced adds 9.51 clipping norms of gradient noise where the accountant records DP-SGD's 9.02:
    # the predicted FNR must use the noise the run added
    plain = record(8.0, 8.0, private=True)
    fair = dataclasses.replace(plain, method="fnr-balanced", gradient_noise_multiplier=NOISE * 1.05)
    assert plain.applied_noise_multiplier == NOISE
    assert fair.applied_noise_multiplier == NOISE * 1.05
