"""DP-SGD mechanics through Opacus: clipping, noise scale, accounting (SPEC section 4)."""

from dataclasses import replace

import pytest
import torch

from dpharm.training.members import Member
from dpharm.training.model import TwoLayerPatchCNN, build_model
from dpharm.training.opacus_training import make_private, train_members
from dpharm.training.privacy import epsilon_spent, noise_multiplier_for, poisson_sample_rate
from dpharm.training.settings import ModelSettings, TrainingSettings
from dpharm.training.stacked import train_stack

CPU = torch.device("cpu")
MODES = ["fast", "ghost", "hooks"]


def tiny_training(training_params, **overrides) -> dict:
    return {**training_params, "learning_rate": 1.0, "clip_norm": 0.5, **overrides}


def one_step_update(model, x, y, training, noise_multiplier, seed=0) -> torch.Tensor:
    """The parameter change of one DP-SGD step (lr 1) on the whole set (Poisson rate 1)."""
    before = model.filters.weight.detach().clone()
    if training["grad_sample_mode"] == "fast":
        train_stack(
            [Member(model, x, y, seed, noise_multiplier=noise_multiplier)],
            training=TrainingSettings.from_config({**training, "steps": 1}),
            device=CPU,
        )
        return model.filters.weight.detach() - before
    private = make_private(
        model,
        x,
        y,
        training=TrainingSettings.from_config(training),
        noise_multiplier=noise_multiplier,
        seed=seed,
        device=CPU,
    )
    xb, yb = next(iter(private.loader))
    assert len(yb) == len(y), "rate-1 Poisson sampling takes every example"
    private.optimizer.zero_grad()
    private.criterion(private.model(xb), yb).backward()
    private.optimizer.step()
    private.model.remove_hooks()
    return model.filters.weight.detach() - before


def manual_clipped_sum(model: TwoLayerPatchCNN, x, y, clip: float) -> torch.Tensor:
    """Sum over examples of each example's gradient scaled to norm at most `clip`."""
    total = torch.zeros_like(model.filters.weight)
    for xi, yi in zip(x, y, strict=False):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(xi[None]), yi[None]).backward()
        g = model.filters.weight.grad
        total += g * min(1.0, clip / g.norm().item())
    return total


@pytest.mark.parametrize("mode", MODES)
def test_each_example_contributes_at_most_clip_norm(training_params, mode):
    torch.manual_seed(0)
    x = 30 * torch.randn(1, 2, 20)  # large inputs: the raw gradient norm far exceeds C
    y = torch.tensor([1])
    model = build_model(ModelSettings.from_config({"width": 4, "init_std": 0.5, "frozen_fraction": 0.0}), 20, 2, seed=1)
    training = tiny_training(training_params, batch_size=1, grad_sample_mode=mode)
    raw = manual_clipped_sum(model, x, y, clip=float("inf"))
    assert raw.norm() > 10 * training["clip_norm"]
    update = one_step_update(model, x, y, training, noise_multiplier=0.0)
    assert update.norm().item() == pytest.approx(training["clip_norm"], rel=1e-4)
    cosine = torch.nn.functional.cosine_similarity(update.flatten(), -raw.flatten(), dim=0)
    assert cosine.item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_batch_update_is_the_mean_of_clipped_per_example_gradients(training_params, mode):
    torch.manual_seed(1)
    x = torch.randn(16, 2, 20) * torch.linspace(0.1, 20, 16).view(-1, 1, 1)  # some clipped, some not
    y = torch.randint(0, 2, (16,))
    model = build_model(ModelSettings.from_config({"width": 4, "init_std": 0.5, "frozen_fraction": 0.0}), 20, 2, seed=2)
    expected = -manual_clipped_sum(model, x, y, clip=0.5) / len(y)
    update = one_step_update(model, x, y, tiny_training(training_params, batch_size=16, grad_sample_mode=mode), 0.0)
    torch.testing.assert_close(update, expected, rtol=1e-4, atol=1e-6)
    assert update.norm() * len(y) <= 0.5 * len(y) + 1e-5


@pytest.mark.parametrize("mode", MODES)
def test_noise_std_is_multiplier_times_clip_over_batch(training_params, mode):
    n, sigma, clip = 8, 3.0, 0.5
    x = torch.zeros(n, 2, 50)  # zero inputs give zero gradients: the update is the noise alone
    y = torch.randint(0, 2, (n,))
    training = tiny_training(training_params, batch_size=n, clip_norm=clip, grad_sample_mode=mode)
    draws = torch.cat(
        [
            one_step_update(
                build_model(
                    ModelSettings.from_config({"width": 10, "init_std": 0.1, "frozen_fraction": 0.0}), 50, 2, seed=s
                ),
                x,
                y,
                training,
                sigma,
                seed=s,
            ).flatten()
            for s in range(20)
        ]
    )  # 20 x 1000 draws
    expected = sigma * clip / n
    assert draws.mean().abs().item() < 4 * expected / len(draws) ** 0.5
    assert draws.std().item() == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize("mode", ["fast", "ghost"])
@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_recorded_epsilon_equals_the_accountants(training_params, accountant, mode):
    torch.manual_seed(2)
    x, y = torch.randn(40, 2, 20), torch.randint(0, 2, (40,))
    training = {
        **training_params,
        "epsilon": 3.0,
        "steps": 30,
        "batch_size": 10,
        "accountant": accountant,
        "grad_sample_mode": mode,
    }
    model = build_model(ModelSettings.from_config({"width": 4, "init_std": 0.1, "frozen_fraction": 0.0}), 20, 2, seed=0)
    (record,) = train_members(
        [Member(model, x, y, 0)], [training["epsilon"]], training=TrainingSettings.from_config(training), device=CPU
    )
    q = poisson_sample_rate(40, 10)
    assert record.sample_rate == q == 0.25
    assert record.noise_multiplier == noise_multiplier_for(3.0, training["delta"], q, 30, accountant)
    independent = epsilon_spent(record.noise_multiplier, q, 30, training["delta"], accountant)
    assert record.epsilon_spent == pytest.approx(independent, rel=1e-9)
    assert 0.9 * 3.0 <= record.epsilon_spent <= 3.0 * 1.001
    assert record.accountant == accountant and record.delta == training["delta"]
    assert record.expected_batch_size == 10 and record.grad_sample_mode == mode


@pytest.mark.parametrize("mode", MODES)
def test_same_seed_same_private_model(training_params, mode):
    x, y = torch.randn(30, 2, 20, generator=torch.Generator().manual_seed(0)), torch.arange(30) % 2
    training = {**training_params, "epsilon": 2.0, "steps": 10, "batch_size": 10, "grad_sample_mode": mode}
    weights = []
    for _ in range(2):
        model = build_model(
            ModelSettings.from_config({"width": 4, "init_std": 0.1, "frozen_fraction": 0.0}), 20, 2, seed=5
        )
        train_members(
            [Member(model, x, y, 5)], [training["epsilon"]], training=TrainingSettings.from_config(training), device=CPU
        )
        weights.append(model.filters.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])


@pytest.mark.parametrize("mode", ["fast", "ghost"])
def test_one_job_trains_every_noise_level_as_it_would_alone(training_params, mode):
    """A job's models at epsilons inf, 8 and 2 (two seeds each, interleaved as a job orders them)
    end where each ends when trained by itself, with its own epsilon's noise and accounting."""
    x, y = torch.randn(30, 2, 20, generator=torch.Generator().manual_seed(0)), torch.arange(30) % 2
    training = {**training_params, "steps": 10, "batch_size": 10, "grad_sample_mode": mode}
    epsilons = [float("inf"), 8.0, 2.0] * 2
    seeds = [0, 0, 0, 1, 1, 1]

    def member(seed):
        return Member(
            build_model(
                ModelSettings.from_config({"width": 4, "init_std": 0.1, "frozen_fraction": 0.0}), 20, 2, seed=seed
            ),
            x,
            y,
            seed,
        )

    together = [member(seed) for seed in seeds]
    records = train_members(together, epsilons, training=TrainingSettings.from_config(training), device=CPU)
    for model, record, epsilon, seed in zip(together, records, epsilons, seeds, strict=False):
        alone = member(seed)
        (expected,) = train_members([alone], [epsilon], training=TrainingSettings.from_config(training), device=CPU)
        torch.testing.assert_close(model.model.filters.weight, alone.model.filters.weight, rtol=1e-4, atol=1e-6)
        assert record == replace(expected, train_seconds=record.train_seconds, models_in_stack=record.models_in_stack)
        assert record.epsilon_target == epsilon and (record.accountant is None) == (epsilon == float("inf"))
    # two non-private models as one stack; four private ones as one stack, or one at a time through Opacus
    assert [record.models_in_stack for record in records] == [2, *[4 if mode == "fast" else 1] * 2] * 2
