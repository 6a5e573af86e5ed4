"""Privacy accounting through Opacus: target epsilon -> noise multiplier, epsilon spent, and the
check that a training record's epsilon is what its own noise, sampling rate and steps give.

The accountant's answers are pure functions of their arguments and slow at high sampling rates
(Opacus sums a series per fractional RDP order), so a process computes each one once.
"""

from __future__ import annotations

import functools
import math
import os
import warnings

from opacus.accountants import create_accountant
from opacus.accountants.utils import get_noise_multiplier

from dpharm.io import unusable_intermediate
from dpharm.training.records import TrainingRecord

# A recorded epsilon and the one recomputed from the record's own noise, rate and steps agree to
# the accountant's precision; a larger gap means the file was edited or mixed up.
EPSILON_TOLERANCE = 1e-6


def is_private(epsilon: float) -> bool:
    """epsilon = inf marks the non-private baseline."""
    return not math.isinf(float(epsilon))


def poisson_sample_rate(n: int, batch_size: int) -> float:
    """The rate Opacus's DPDataLoader samples (and accounts) with: 1 / number of batches."""
    return 1.0 / math.ceil(n / min(batch_size, n))


@functools.cache
def noise_multiplier_for(epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str) -> float:
    """Smallest noise multiplier whose `accountant` epsilon after `steps` is at most `epsilon`.

    The search tries noise levels far below the answer, whose RDP epsilon is minimised at the
    largest order; Opacus warns there ("Optimal order is the largest alpha"). That warning says
    a trial bound is loose, which never makes the answer unsafe (a loose bound only raises the
    noise), so it is silenced during the search alone; the epsilon recorded after training
    (`accountant_epsilon`) keeps it.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return get_noise_multiplier(
            target_epsilon=epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=steps,
            accountant=accountant,
        )


# PRV's default absolute error on epsilon (0.01) is several percent of a small epsilon.
EPSILON_OPTIONS = {"rdp": {}, "prv": {"eps_error": 1e-3}}


def accountant_epsilon(accountant, name: str, delta: float) -> float:
    """Epsilon an Opacus accountant (with its history) reports, at the precision we record."""
    return float(accountant.get_epsilon(delta=delta, **EPSILON_OPTIONS[name]))


@functools.cache
def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    """Epsilon of `steps` Poisson-subsampled Gaussian steps, by a fresh accountant."""
    fresh = create_accountant(mechanism=accountant)
    fresh.history = [(noise_multiplier, sample_rate, steps)]
    return accountant_epsilon(fresh, accountant, delta)


@functools.cache
def composed_epsilon(
    count_std: float, gradient: float, *, delta: float, sample_rate: float, steps: int, accountant: str
) -> float:
    """Epsilon of one count release (rate 1) followed by `steps` sampled Gaussian steps."""
    fresh = create_accountant(mechanism=accountant)
    fresh.history = [(count_std, 1.0, 1), (gradient, sample_rate, steps)]
    return accountant_epsilon(fresh, accountant, delta)


def recomputed_epsilon(record: TrainingRecord) -> float:
    """The epsilon a private record's own noise, sampling rate and steps spend, by a fresh
    accountant: `steps` sampled Gaussian steps of the accounted noise multiplier, after the
    one-off release of group counts where the method makes one (`dpharm.training.fair`)."""
    if record.count_noise_std:
        return composed_epsilon(
            record.count_noise_std,
            record.gradient_noise_multiplier,
            delta=record.delta,
            sample_rate=record.sample_rate,
            steps=record.steps,
            accountant=record.accountant,
        )
    return epsilon_spent(record.noise_multiplier, record.sample_rate, record.steps, record.delta, record.accountant)


def verified_epsilon(record: TrainingRecord, path: str | os.PathLike) -> TrainingRecord:
    """`record`, refused (CorruptFileError naming `path`) if it is private and its epsilon is not
    what its own numbers give."""
    if not record.private:
        return record
    recomputed = recomputed_epsilon(record)
    if abs(recomputed - record.epsilon_spent) > EPSILON_TOLERANCE * max(1.0, recomputed):
        raise unusable_intermediate(
            path,
            f"epsilon spent {record.epsilon_spent:.6g} is not what its noise multiplier {record.noise_multiplier:.6g}, "
            f"sampling rate {record.sample_rate:.6g} and {record.steps} steps give ({recomputed:.6g}): the file was "
            "edited or belongs to another run",
        )
    return record
