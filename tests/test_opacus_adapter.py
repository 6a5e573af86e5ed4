"""Opacus's private functions that dpharm.opacus_adapter relies on still exist and behave as used."""

import inspect

import pytest
import torch
from opacus.optimizers import optimizer as opacus_optimizer

from dpharm.opacus_adapter import PRIVATE_FUNCTIONS, SummedGradientDPOptimizer


@pytest.mark.parametrize("name", sorted(PRIVATE_FUNCTIONS))
def test_private_opacus_function_keeps_the_parameters_we_pass(name):
    function = getattr(opacus_optimizer, name, None)
    assert function is not None, f"opacus.optimizers.optimizer.{name} is gone: update dpharm/opacus_adapter.py"
    parameters = tuple(inspect.signature(function).parameters)
    assert parameters[: len(PRIVATE_FUNCTIONS[name])] == PRIVATE_FUNCTIONS[name], (
        f"opacus.optimizers.optimizer.{name} now takes {parameters}: update dpharm/opacus_adapter.py"
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


def test_summed_gradient_optimizer_adds_the_seeded_noise_of_a_plain_normal_draw():
    """Our in-place noise equals one torch.normal draw from the same seeded generator."""
    weight = torch.nn.Parameter(torch.zeros(4, 5))
    optimizer = SummedGradientDPOptimizer(
        torch.optim.SGD([weight], lr=1.0),
        noise_multiplier=1.5,
        max_grad_norm=0.1,
        expected_batch_size=2,
        generator=torch.Generator().manual_seed(3),
    )
    weight.grad = torch.ones(4, 5)
    optimizer.step()
    noise = torch.normal(mean=0, std=0.15, size=(4, 5), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(weight.detach(), -(torch.ones(4, 5) + noise) / 2)
