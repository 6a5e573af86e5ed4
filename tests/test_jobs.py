"""What every job does around its work: its log file, and a quiet noise search."""

import sys
import warnings

import pytest

from dpharm.jobs import logging_to
from dpharm.training.privacy import noise_multiplier_for


def test_a_failing_job_leaves_its_traceback_in_its_log(tmp_path):
    log = tmp_path / "logs" / "job.log"
    with pytest.raises(ZeroDivisionError), logging_to(str(log)):
        print("halfway", file=sys.stderr)
        1 / 0  # noqa: B018
    text = log.read_text()
    assert "halfway" in text and "Traceback" in text and "ZeroDivisionError" in text


def test_the_noise_search_does_not_warn_about_the_orders_of_its_trial_points():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        sigma = noise_multiplier_for(8.0, 1e-5, 1024 / 60000, 500, "rdp")
    assert 0.3 < sigma < 1.0
