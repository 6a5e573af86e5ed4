"""Augmentation multiplicity and freezing keep DP-SGD's guarantees (SPEC section 4)."""

import functools

import pytest
import torch

from dpharm.training.augment import synthetic_views
from dpharm.training.members import Member
from dpharm.training.model import build_model
from dpharm.training.opacus_training import _loss, make_private, train_members
from dpharm.training.settings import ModelSettings, TrainingSettings
from dpharm.training.stack_batches import Batch
from dpharm.training.stacked import stack_gradients

CPU = torch.device("cpu")
MODEL = {"width": 4, "init_std": 0.5, "frozen_fraction": 0.0}


def clipped(g: torch.Tensor, clip: float) -> torch.Tensor:
    return g * min(1.0, clip / g.norm().item())


@pytest.mark.parametrize("mode", ["fast", "ghost", "hooks"])
def test_views_are_averaged_then_clipped_as_one_example(training_params, mode):
    torch.manual_seed(0)
    views = 10 * torch.randn(3, 4, 2, 20)  # 3 examples x 4 views, large: every example is clipped
    y = torch.tensor([0, 1, 1])
    clip = 0.5
    model = build_model(ModelSettings.from_config(MODEL), 20, 2, seed=0)
    expected = torch.zeros_like(model.filters.weight)
    for example, label in zip(views, y, strict=False):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(example), label.repeat(4)).backward()  # mean over views
        expected += clipped(model.filters.weight.grad.clone(), clip)
    expected /= len(y)

    if mode == "fast":
        batch = Batch(views.reshape(1, 3, 8, 20), y[None], torch.ones(1, 3), [3], None)
        total = stack_gradients(
            model.filters.weight.detach()[None], None, batch, num_classes=2, width=4, patches=2, clip_norm=clip
        )[0]
        torch.testing.assert_close(total / len(y), expected, rtol=1e-4, atol=1e-7)
        return
    training = {**training_params, "learning_rate": 1.0, "clip_norm": clip, "batch_size": 3, "grad_sample_mode": mode}
    before = model.filters.weight.detach().clone()
    private = make_private(
        model, views[:, 0], y, training=TrainingSettings.from_config(training), noise_multiplier=0.0, seed=0, device=CPU
    )
    private.optimizer.zero_grad()
    _loss(private.criterion, private.model(views), y, ghost=mode == "ghost").backward()
    private.optimizer.step()
    update = before - model.filters.weight.detach()
    torch.testing.assert_close(update, expected, rtol=1e-4, atol=1e-7)
    assert update.norm() <= clip + 1e-6  # three examples at most C each, over a batch of 3


def test_views_keep_the_signal_and_redraw_position_and_noise():
    x = torch.zeros(5, 3, 30)
    signal_patch = torch.tensor([0, 1, 2, 0, 1])
    x[torch.arange(5), signal_patch, 0] = 7.0
    x[torch.arange(5), (signal_patch + 1) % 3, 10:] = 1.0  # stand-in noise, must be replaced
    views = synthetic_views(x, signal_patch, torch.Generator().manual_seed(0), views=64, noise_std=2.0, feature_span=4)
    assert views.shape == (5, 64, 3, 30)
    holds_signal = views[..., 0] == 7.0
    assert torch.all(holds_signal.sum(dim=-1) == 1)  # one signal patch per view
    assert holds_signal.float().mean(dim=(0, 1)).min() > 0.2  # at every position
    noise = views[~holds_signal]
    assert torch.all(noise[:, :4] == 0.0)
    assert noise[:, 4:].std().item() == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("mode", ["fast", "ghost"])
def test_augmentation_is_accounted_as_one_example(training_params, mode):
    x, y = torch.randn(40, 2, 20), torch.arange(40) % 2
    signal_patch = torch.zeros(40, dtype=torch.long)
    training = {**training_params, "epsilon": 4.0, "steps": 20, "batch_size": 10, "grad_sample_mode": mode}
    make_views = functools.partial(synthetic_views, views=4, noise_std=1.0, feature_span=8)
    (plain,) = train_members(
        [Member(build_model(ModelSettings.from_config(MODEL), 20, 2, 0), x, y, 0)],
        [4.0],
        training=TrainingSettings.from_config(training),
        device=CPU,
    )
    (augmented,) = train_members(
        [Member(build_model(ModelSettings.from_config(MODEL), 20, 2, 0), x, y, 0, signal_patch)],
        [4.0],
        training=TrainingSettings.from_config(training),
        device=CPU,
        make_views=make_views,
    )
    for key in ("sample_rate", "noise_multiplier", "epsilon_spent", "expected_batch_size"):
        assert getattr(augmented, key) == getattr(plain, key)


@pytest.mark.parametrize("mode", ["fast", "ghost"])
@pytest.mark.parametrize("epsilon", [4.0, float("inf")])
def test_frozen_filters_stay_bit_identical(training_params, epsilon, mode):
    x, y = torch.randn(40, 2, 20), torch.arange(40) % 2
    model = build_model(ModelSettings.from_config({**MODEL, "width": 10, "frozen_fraction": 0.5}), 20, 2, seed=3)
    assert model.frozen == 5
    frozen_before = model.frozen_filters.weight.detach().clone()
    trainable_before = model.filters.weight.detach().clone()
    training = {**training_params, "epsilon": epsilon, "steps": 10, "batch_size": 10, "grad_sample_mode": mode}
    train_members([Member(model, x, y, 0)], [epsilon], training=TrainingSettings.from_config(training), device=CPU)
    assert torch.equal(model.frozen_filters.weight, frozen_before)
    assert not torch.equal(model.filters.weight, trainable_before)


def test_freezing_does_not_change_the_initialisation():
    full = build_model(ModelSettings.from_config({**MODEL, "width": 10}), 20, 2, seed=3).filter_bank()
    frozen = build_model(
        ModelSettings.from_config({**MODEL, "width": 10, "frozen_fraction": 0.3}), 20, 2, seed=3
    ).filter_bank()
    assert torch.equal(full, frozen)


def test_image_views_shift_and_flip_the_pixels_and_keep_their_content():
    from dpharm.data.image_splits import patchify
    from dpharm.training.augment import image_views, unpatchify

    images = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8) + 1.0
    x = torch.from_numpy(patchify(images.numpy(), 4))
    assert torch.equal(unpatchify(x, 4), images)
    views = image_views(x, None, torch.Generator().manual_seed(0), views=16, patch=4, background=0.0)
    assert views.shape == (2, 16, 4, 16)
    for example in range(2):
        for view in views[example]:
            picture = unpatchify(view[None], 4)[0, 0]
            original = images[example, 0]
            # some shift (dy, dx) in [-2, 2]^2, with or without a left-right flip, explains the view
            candidates = [original, original.flip(-1)]
            assert any(
                torch.equal(picture[max(0, dy) : 8 + min(0, dy), max(0, dx) : 8 + min(0, dx)],
                            source[max(0, -dy) : 8 + min(0, -dy), max(0, -dx) : 8 + min(0, -dx)])
                for source in candidates for dy in range(-2, 3) for dx in range(-2, 3)
            )  # fmt: skip
    flat = views.reshape(32, -1)
    assert len({tuple(row.tolist()) for row in flat}) > 8  # views differ from one another
