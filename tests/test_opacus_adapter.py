"""Opacus's private functions that dpharm.training.opacus_adapter relies on still exist and behave as used."""

import inspect

import pytest
import torch
from opacus.optimizers import optimizer as opacus_optimizer

from dpharm.training.opacus_adapter import PRIVATE_FUNCTIONS, SummedGradientDPOptimizer


@pytest.mark.parametrize("name", sorted(PRIVATE_FUNCTIONS))
def test_private_opacus_function_keeps_the_parameters_we_pass(name):
    function = getattr(opacus_optimizer, name, None)
    assert function is not None, f"opacus.optimizers.optimizer.{name} is gone: update dpharm/training/opacus_adapter.py"
    parameters = tuple(inspect.signature(function).parameters)
    assert parameters[: len(PRIVATE_FUNCTIONS[name])] == PRIVATE_FUNCTIONS[name], (
        f"opacus.optimizers.optimizer.{name} now takes {parameters}: update dpharm/training/opacus_adapter.py"
    )


def test_processed_flag_refuses_a_second_noise_draw():
    """The flag that stops noise being added twice to one gradient sum still works as used."""
    tensor = torch.zeros(3)
    opacus_optimizer._check_processed_flag(tensor)
    opacus_optimizer._mark_as_processed(tensor)
    with pytest.raises(ValueError):
        opacus_optimizer._check_processed_flag(tensor)


def test_generated_noise_has_the_requested_scale_and_shape():
    reference = torch.zeros(200, 50)
    noise = opacus_optimizer._generate_noise(std=2.0, reference=reference, generator=torch.Generator().manual_seed(0))
    assert noise.shape == reference.shape
    assert abs(noise.std().item() - 2.0) < 0.05


def test_the_noise_is_opacus_own_draw():
    """The optimizer adds, in place, exactly the noise Opacus's ghost-clipping optimizer adds."""
    from opacus.optimizers import DPOptimizerFastGradientClipping

    updates = []
    for optimizer_class in (SummedGradientDPOptimizer, DPOptimizerFastGradientClipping):
        weight = torch.nn.Parameter(torch.zeros(30, 7))
        optimizer = optimizer_class(
            torch.optim.SGD([weight], lr=1.0),
            noise_multiplier=2.0,
            max_grad_norm=0.5,
            expected_batch_size=4,
            generator=torch.Generator().manual_seed(3),
        )
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            weight.grad = torch.ones(30, 7)
            optimizer.step()
        updates.append(weight.detach().clone())
    torch.testing.assert_close(updates[0], updates[1], rtol=0, atol=1e-6)
    # three steps of noise std 2 * 0.5 / 4 each, 210 draws
    assert updates[0].std().item() == pytest.approx(0.25 * 3**0.5, rel=0.2)
