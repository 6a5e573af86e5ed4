"""Cross-check the pipeline's epsilons with an independent accountant (Google's dp-accounting)."""

import itertools
import math

import dp_accounting as dpa
import pytest
from dp_accounting.pld import PLDAccountant
from dp_accounting.rdp import RdpAccountant

from dpharm.training.privacy import epsilon_spent, noise_multiplier_for


def dp_sgd_event(noise_multiplier: float, sample_rate: float, steps: int) -> dpa.DpEvent:
    step = dpa.GaussianDpEvent(noise_multiplier)
    if sample_rate < 1:
        step = dpa.PoissonSampledDpEvent(sample_rate, step)
    return dpa.SelfComposedDpEvent(step, steps)


def independent_epsilon(noise_multiplier, sample_rate, steps, delta, accountant) -> float:
    """RDP for Opacus's RDP accountant; the tight PLD accountant for Opacus's PRV accountant."""
    independent = RdpAccountant() if accountant == "rdp" else PLDAccountant(value_discretization_interval=1e-4)
    independent.compose(dp_sgd_event(noise_multiplier, sample_rate, steps))
    return independent.get_epsilon(delta)


# Settings the pipeline uses (full-batch DP-GD: rate 1, 200 steps, epsilon 1-16) and classic
# subsampled DP-SGD, epsilon about 0.2 to 50. PRV is asked for an absolute error of 1e-3,
# so epsilons below 0.1 are not compared at 1%; both libraries' RDP order grids end at small
# orders, so epsilons far beyond 50 (meaningless as guarantees) are not compared either.
GRID = (
    [(sigma, 1.0, 200, delta) for sigma in (5.0, 16.0, 57.5) for delta in (1e-5, 1e-7)]
    + [(sigma, q, steps, 1e-5) for sigma, q, steps in itertools.product((0.8, 2.0), (0.004, 0.01), (500, 3000))]
    + [(2.0, 0.1, 3000, 1e-5), (4.0, 0.25, 1000, 1e-5)]
)


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
@pytest.mark.parametrize("noise_multiplier, sample_rate, steps, delta", GRID)
def test_epsilon_agrees_with_dp_accounting(noise_multiplier, sample_rate, steps, delta, accountant):
    ours = epsilon_spent(noise_multiplier, sample_rate, steps, delta, accountant)
    theirs = independent_epsilon(noise_multiplier, sample_rate, steps, delta, accountant)
    assert ours == pytest.approx(theirs, rel=0.01)


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_solved_noise_multiplier_meets_the_target(accountant):
    sigma = noise_multiplier_for(2.0, 1e-5, 0.25, 400, accountant)
    assert independent_epsilon(sigma, 0.25, 400, 1e-5, accountant) <= 2.0 * 1.01
    assert independent_epsilon(sigma * 0.95, 0.25, 400, 1e-5, accountant) > 2.0  # not needlessly noisy
    assert math.isfinite(sigma)
