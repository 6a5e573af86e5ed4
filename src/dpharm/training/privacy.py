"""Privacy accounting through Opacus: target epsilon -> noise multiplier, and epsilon spent."""

from __future__ import annotations

import math
import warnings

from opacus.accountants import create_accountant
from opacus.accountants.utils import get_noise_multiplier


def is_private(epsilon: float) -> bool:
    """epsilon = inf marks the non-private baseline."""
    return not math.isinf(float(epsilon))


def poisson_sample_rate(n: int, batch_size: int) -> float:
    """The rate Opacus's DPDataLoader samples (and accounts) with: 1 / number of batches."""
    return 1.0 / math.ceil(n / min(batch_size, n))


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


def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    """Epsilon of `steps` Poisson-subsampled Gaussian steps, by a fresh accountant."""
    fresh = create_accountant(mechanism=accountant)
    fresh.history = [(noise_multiplier, sample_rate, steps)]
    return accountant_epsilon(fresh, accountant, delta)
