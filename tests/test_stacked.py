"""The fast path (dpharm.fastdp) computes exactly what Opacus computes, for one model or a stack."""

import functools

import pytest
import torch
from opacus.grad_sample import GradSampleModule, GradSampleModuleFastGradientClipping

from dpharm.training.augment import synthetic_views
from dpharm.training.members import Member
from dpharm.training.model import PatchFilters, build_model
from dpharm.training.opacus_training import make_private
from dpharm.training.patch_gradients import gram, per_example_gradient_norms
from dpharm.training.settings import ModelSettings, TrainingSettings
from dpharm.training.stack_batches import Batch
from dpharm.training.stacked import Stack, stack_gradients, train_stack

CPU = torch.device("cpu")


def model_params(width=6, frozen_fraction=0.0):
    return {"width": width, "init_std": 0.3, "frozen_fraction": frozen_fraction}


def test_closed_form_norms_equal_the_norms_of_materialised_gradients():
    generator = torch.Generator().manual_seed(0)
    activations, backprops = torch.randn(7, 6, 30, generator=generator), torch.randn(7, 6, 12, generator=generator)
    materialised = torch.einsum("btk,btd->bkd", backprops, activations).flatten(1).norm(dim=1)
    torch.testing.assert_close(per_example_gradient_norms(activations, backprops), materialised, rtol=1e-5, atol=1e-5)


def test_opacus_uses_the_closed_forms_registered_for_the_patch_layer():
    from dpharm.training.patch_gradients import _patch_grad_sampler, _patch_norm_sampler

    assert GradSampleModule.GRAD_SAMPLERS[PatchFilters] is _patch_grad_sampler
    assert GradSampleModuleFastGradientClipping.NORM_SAMPLERS[PatchFilters] is _patch_norm_sampler


def opacus_clipped_sum(model, x, y, clip, mode) -> torch.Tensor:
    """Opacus's sum of clipped per-example gradients (before noise and averaging)."""
    training = TrainingSettings(
        steps=1, learning_rate=1.0, batch_size=len(y), clip_norm=clip, delta=1e-5, grad_sample_mode=mode
    )
    private = make_private(model, x, y, training=training, noise_multiplier=0.0, seed=0, device=CPU)
    private.optimizer.zero_grad()
    logits = private.model(x)
    loss = (
        torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.repeat_interleave(x.shape[1]))
        if x.dim() == 4
        else torch.nn.functional.cross_entropy(logits, y)
    )
    loss.backward()
    private.optimizer.clip_and_accumulate()
    total = model.filters.weight.summed_grad.clone()
    private.model.remove_hooks()
    return total


@pytest.mark.parametrize("mode", ["hooks", "functorch"])
@pytest.mark.parametrize(
    "shape", [(2, 0.0, 1), (5, 0.0, 1), (3, 0.5, 1), (2, 0.0, 4)], ids=["T2", "T5", "frozen", "views"]
)
def test_clipped_sum_equals_opacus(mode, shape):
    """Random inputs, some examples clipped and some not; functorch mode does not use our samplers."""
    patches, frozen_fraction, views = shape
    generator = torch.Generator().manual_seed(patches)
    scale = torch.linspace(0.05, 5, 24).view(-1, 1, 1, 1)
    x = torch.randn(24, views, patches, 40, generator=generator) * scale
    y = torch.randint(0, 3, (24,), generator=generator)
    x = x if views > 1 else x[:, 0]
    model = build_model(
        ModelSettings.from_config(model_params(width=6, frozen_fraction=frozen_fraction)), 40, 3, seed=1
    )
    flat = x.reshape(1, 24, views * patches, 40)
    frozen = model.frozen_filters.weight.detach()[None] if model.frozen else None
    shape = {"num_classes": 3, "width": 6, "patches": patches}

    def ours(clip_norm, grams=None):
        batch = Batch(flat, y[None], torch.ones(1, 24), [24], grams)
        return stack_gradients(model.filters.weight.detach()[None], frozen, batch, clip_norm=clip_norm, **shape)[0]

    reference = opacus_clipped_sum(model, x, y, 0.3, mode)
    torch.testing.assert_close(ours(0.3), reference, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ours(0.3, gram(flat)), reference, rtol=1e-4, atol=1e-6)
    unclipped, clipped = ours(None), ours(0.3)
    assert unclipped.norm() > clipped.norm() * 1.5  # the test data does exercise clipping


def members(count, n=30, patches=2, dimension=16, views=False, frozen_fraction=0.0, noise=None):
    """`count` models on data of their own; noise: one noise multiplier for all, or one each."""
    generator = torch.Generator().manual_seed(42)
    noise = noise if isinstance(noise, list) else [noise] * count
    return [
        Member(
            build_model(
                ModelSettings.from_config(model_params(frozen_fraction=frozen_fraction)), dimension, 2, seed=seed
            ),
            torch.randn(n, patches, dimension, generator=generator) * 3,
            torch.randint(0, 2, (n,), generator=generator),
            seed,
            torch.randint(0, patches, (n,), generator=generator) if views else None,
            noise[seed],
        )
        for seed in range(count)
    ]


TRAINING = {"learning_rate": 0.5, "clip_norm": 0.2, "steps": 25, "batch_size": 8, "accountant": "rdp", "delta": 1e-5}


@pytest.mark.parametrize("case", ["dp", "dp-noise-levels", "dp-views", "dp-frozen", "sgd"])
def test_a_stack_trains_each_model_exactly_as_alone(case):
    """Poisson rate 8/30 gives different batch sizes per model, so padding is exercised."""
    noise = {"sgd": None, "dp-noise-levels": [0.6, 1.3, 2.5, 5.0]}.get(case, 1.3)
    views = functools.partial(synthetic_views, views=3, noise_std=1.0, feature_span=4) if case == "dp-views" else None
    build = functools.partial(
        members, 4, views=views is not None, frozen_fraction=0.5 if case == "dp-frozen" else 0.0, noise=noise
    )
    stack = build()
    records = train_stack(stack, training=TrainingSettings.from_config(TRAINING), device=CPU, make_views=views)
    for index, alone in enumerate(build()):
        record = train_stack([alone], training=TrainingSettings.from_config(TRAINING), device=CPU, make_views=views)[0]
        torch.testing.assert_close(stack[index].model.filter_bank(), alone.model.filter_bank(), rtol=1e-4, atol=1e-6)
        assert records[index].epsilon_spent == record.epsilon_spent
        assert records[index].noise_multiplier == record.noise_multiplier
    if case == "dp-noise-levels":  # each model accounted at its own noise level: more noise, less epsilon
        spent = [record.epsilon_spent for record in records]
        assert spent == sorted(spent, reverse=True) and len(set(spent)) == 4
    banks = [member.model.filter_bank() for member in stack]
    assert not torch.allclose(banks[0], banks[1])  # each model its own data, draws and noise


def test_empty_poisson_batches_are_noise_only_and_stack_like_alone():
    """At rate 1/10 on 10 examples about a third of the steps sample nobody."""
    nobody = Batch(torch.zeros(3, 0, 2, 16), torch.zeros(3, 0, dtype=torch.long), torch.zeros(3, 0), [0, 0, 0], None)
    empty = stack_gradients(torch.ones(3, 12, 16), None, nobody, num_classes=2, width=6, patches=2, clip_norm=0.2)
    assert torch.equal(empty, torch.zeros(3, 12, 16))
    training = {**TRAINING, "batch_size": 1}
    stack = members(3, n=10, noise=1.3)
    train_stack(stack, training=TrainingSettings.from_config(training), device=CPU)
    for index, alone in enumerate(members(3, n=10, noise=1.3)):
        train_stack([alone], training=TrainingSettings.from_config(training), device=CPU)
        assert torch.isfinite(alone.model.filters.weight).all()
        torch.testing.assert_close(stack[index].model.filter_bank(), alone.model.filter_bank(), rtol=1e-4, atol=1e-6)


def test_noise_levels_of_one_data_set_share_its_input_grams():
    (first, other) = members(2, noise=1.0)
    levels = [
        first,
        Member(
            build_model(ModelSettings.from_config(model_params()), 16, 2, seed=0),
            first.x,
            first.y,
            0,
            noise_multiplier=3.0,
        ),
        other,
    ]
    grams = Stack(levels, training=TrainingSettings.from_config(TRAINING), device=CPU).input_grams
    assert grams[0] is grams[1] and grams[0] is not grams[2]
    torch.testing.assert_close(grams[2], gram(other.x))


def test_a_stack_refuses_mixed_shapes_and_mixed_privacy():
    with pytest.raises(ValueError, match="one shape"):
        train_stack(
            members(1, noise=1.0) + members(1, n=20, noise=1.0),
            training=TrainingSettings.from_config(TRAINING),
            device=CPU,
        )
    with pytest.raises(ValueError, match="only private"):
        train_stack(members(2, noise=[1.0, None]), training=TrainingSettings.from_config(TRAINING), device=CPU)


def test_the_update_is_divided_by_the_exact_expected_batch_size():
    """49 examples at batch 1: q = 1/49, and q * n must not truncate to 0 (as in Opacus's make_private)."""
    (member,) = members(1, n=49, noise=0.5)
    before = member.model.filters.weight.detach().clone()
    training = {**TRAINING, "batch_size": 1, "steps": 30}
    (record,) = train_stack([member], training=TrainingSettings.from_config(training), device=CPU)
    assert record.expected_batch_size == pytest.approx(1.0)
    assert torch.isfinite(member.model.filters.weight).all()
    assert not torch.equal(member.model.filters.weight, before)
