"""Fair DP-SGD methods (dpharm.training.fair): each method's clipped sum against a per-example reference, its
contribution bound, its noise, its private statistics and its accounting against dp-accounting,
bad input, and the disparity statistic of its claim tests."""

import math

import dp_accounting as dpa
import numpy as np
import pandas as pd
import pytest
import torch
from dp_accounting.rdp import RdpAccountant

from dpharm.claims.rules import Context
from dpharm.experiments.fair_dpsgd import disparity, overall_change, worst_group_gain
from dpharm.setup.config import ConfigError
from dpharm.setup.validation import validate_config
from dpharm.training.fair import split_noise
from dpharm.training.members import Member
from dpharm.training.methods import create_clipping, method_names, training_method
from dpharm.training.model import build_model
from dpharm.training.privacy import composed_epsilon, noise_multiplier_for
from dpharm.training.settings import ModelSettings, TrainingSettings
from dpharm.training.stack_batches import Batch
from dpharm.training.stacked import stack_gradients, train_stack
from helpers import set_key

CPU = torch.device("cpu")
CLIP = 1.0


def tiny_data(n=12, d=10, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, d, generator=generator)
    y = torch.arange(n) % 2
    y[:3] = 1  # unequal groups: 7 of class 1, 5 of class 0
    return x, y


def settings(method, **overrides) -> TrainingSettings:
    values = {"steps": 1, "learning_rate": 1.0, "batch_size": 1000, "clip_norm": CLIP, "delta": 1e-5,
              "method": method, **overrides}  # fmt: skip
    return TrainingSettings(**values)


def per_example_gradients(model, x, y) -> torch.Tensor:
    grads = []
    for xi, yi in zip(x, y, strict=True):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(xi[None]), yi[None]).backward()
        grads.append(model.filters.weight.grad.detach().clone())
    return torch.stack(grads)


def reference_scales(method, norms, y) -> torch.Tensor:
    """The first step's scale of each example, restated from the papers (no noise: exact)."""
    clipped = torch.clamp(CLIP / (norms + 1e-6), max=1.0)
    if method in ("dp-sgd", "adaptive-clipping", "bounded-adaptive-clipping"):
        return clipped  # the adaptive bound starts at C
    if method == "dpsgd-global-adapt":
        return CLIP / torch.maximum(norms + 1e-6, torch.tensor(CLIP))  # Z starts at C
    counts = torch.bincount(y, minlength=2).double()
    if method == "fnr-balanced":
        return (counts.min() / counts)[y].float() * clipped
    share = torch.stack([(norms[y == g] > CLIP).double().mean() for g in (0, 1)])  # dpsgd-f
    bounds = CLIP * (1 + share / share.sum())
    return torch.clamp(bounds[y].float() / (norms + 1e-6), max=1.0)


@pytest.mark.parametrize("method", method_names())
def test_first_step_is_the_sum_of_scaled_per_example_gradients(method):
    x, y = tiny_data()
    model = build_model(ModelSettings(width=3, init_std=0.5), x.shape[-1], 2, seed=1)
    grads = per_example_gradients(model, x, y)
    norms = grads.flatten(1).norm(dim=1)
    assert (norms > CLIP).any() and (norms < CLIP).any(), "the data must clip some examples, not all"
    expected = -(reference_scales(method, norms, y)[:, None, None] * grads).sum(0) / len(y)
    before = model.filters.weight.detach().clone()
    groups = y if training_method(method).needs_groups else None
    train_stack([Member(model, x, y, 0, noise_multiplier=0.0, groups=groups, num_groups=2)],
                training=settings(method), device=CPU)  # fmt: skip
    torch.testing.assert_close(model.filters.weight.detach() - before, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("method", method_names())
def test_no_example_contributes_more_than_the_bound_the_noise_is_calibrated_to(method):
    generator = torch.Generator().manual_seed(3)
    training = settings(method, min_clip_norm=0.4 * CLIP)
    sigma = noise_multiplier_for(1.0, 1e-5, 1.0, 50, "rdp")
    noise = split_noise(method, sigma, share=0.1, epsilon=1.0, delta=1e-5, sample_rate=1.0, steps=50,
                        accountant="rdp")  # fmt: skip
    groups = torch.randint(0, 3, (64,), generator=generator)
    counts = torch.bincount(groups, minlength=3)
    clipping = create_clipping(method, training, noise, 64.0, torch.Generator().manual_seed(0), counts)
    for _ in range(50):
        norms = torch.rand(64, generator=generator) * torch.logspace(-3, 1, 64)
        scales = clipping.factors(norms, groups, torch.ones(64))
        assert (scales >= 0).all()
        assert (scales * norms).max() <= clipping.bound * (1 + 1e-5)
        if method == "dpsgd-f":
            assert CLIP <= clipping.bound <= 2 * CLIP


@pytest.mark.parametrize("method", ["adaptive-clipping", "dpsgd-global-adapt"])
def test_the_adaptive_bound_moves_with_the_private_unclipped_share(method):
    norms = CLIP * torch.linspace(0.02, 2.0, 100)  # 50 of 100 at or under C
    noise = split_noise(method, 4.0, share=0.1, epsilon=1.0, delta=1e-5, sample_rate=1.0, steps=10,
                        accountant="rdp")  # fmt: skip
    assert noise.statistic_std == pytest.approx(0.5 * 4.0 / math.sqrt(0.1))  # centred count: sensitivity 1/2
    training = settings(method)
    quantile = 0.5 if method == "adaptive-clipping" else training.global_unclipped_quantile
    shares = []
    for seed in range(2000):
        clipping = create_clipping(method, training, noise, 100.0, torch.Generator().manual_seed(seed))
        clipping.factors(norms, None, torch.ones(100))
        shares.append(quantile - math.log(clipping.threshold / CLIP) / training.clip_learning_rate)
    true_share = float((norms <= CLIP).double().mean())
    assert np.mean(shares) == pytest.approx(true_share, abs=0.01)
    assert np.std(shares) == pytest.approx(noise.statistic_std / 100.0, rel=0.05)


@pytest.mark.parametrize("method", ["dp-sgd", "adaptive-clipping", "dpsgd-global-adapt"])
def test_the_gradient_noise_has_the_split_std_times_the_bound(method):
    x, y = tiny_data(n=8)
    members = [
        Member(build_model(ModelSettings(width=3, init_std=0.5), x.shape[-1], 2, seed=1), x, y, seed,
               noise_multiplier=2.0, epsilon=1.0)
        for seed in range(400)
    ]  # fmt: skip
    before = members[0].model.filters.weight.detach().clone()
    train_stack(members, training=settings(method), device=CPU)
    moves = torch.stack([m.model.filters.weight.detach() - before for m in members])
    split = split_noise(method, 2.0, share=0.1, epsilon=1.0, delta=1e-5, sample_rate=1.0, steps=1, accountant="rdp")
    expected = split.gradient * CLIP / len(y)  # the first step's bound is C for all three
    assert (moves - moves.mean(0)).std().item() == pytest.approx(expected, rel=0.03)


def rdp_epsilon(event, delta) -> float:
    accountant = RdpAccountant()
    accountant.compose(event)
    return accountant.get_epsilon(delta)


@pytest.mark.parametrize("method", ["adaptive-clipping", "dpsgd-f"])
@pytest.mark.parametrize("sample_rate, steps", [(1.0, 200), (0.02, 1000)])
def test_a_per_step_statistic_and_the_gradient_are_one_gaussian_of_the_accounted_noise(method, sample_rate, steps):
    sigma = noise_multiplier_for(2.0, 1e-5, sample_rate, steps, "rdp")
    split = split_noise(method, sigma, share=0.2, epsilon=2.0, delta=1e-5, sample_rate=sample_rate, steps=steps,
                        accountant="rdp")  # fmt: skip
    sensitivity = 0.5 if method == "adaptive-clipping" else 1.0
    statistic = dpa.GaussianDpEvent(split.statistic_std / sensitivity)
    both = dpa.ComposedDpEvent([dpa.GaussianDpEvent(split.gradient), statistic])
    assert rdp_epsilon(both, 1e-5) == pytest.approx(rdp_epsilon(dpa.GaussianDpEvent(split.accounted), 1e-5), rel=1e-6)
    assert split.accounted == sigma and split.gradient > sigma
    step = dpa.GaussianDpEvent(split.accounted)
    if sample_rate < 1:
        step = dpa.PoissonSampledDpEvent(sample_rate, step)
    assert rdp_epsilon(dpa.SelfComposedDpEvent(step, steps), 1e-5) <= 2.0 * 1.001


@pytest.mark.parametrize("sample_rate, steps", [(1.0, 200), (0.02, 1000)])
def test_fnr_balanced_counts_and_steps_compose_within_the_target(sample_rate, steps):
    sigma = noise_multiplier_for(2.0, 1e-5, sample_rate, steps, "rdp")
    split = split_noise("fnr-balanced", sigma, share=0.1, epsilon=2.0, delta=1e-5, sample_rate=sample_rate,
                        steps=steps, accountant="rdp")  # fmt: skip
    assert split.count_std > 0 and split.gradient > sigma and split.statistic_std == 0
    step = dpa.GaussianDpEvent(split.gradient)
    if sample_rate < 1:
        step = dpa.PoissonSampledDpEvent(sample_rate, step)
    event = dpa.ComposedDpEvent([dpa.GaussianDpEvent(split.count_std), dpa.SelfComposedDpEvent(step, steps)])
    theirs = rdp_epsilon(event, 1e-5)
    ours = composed_epsilon(split.count_std, split.gradient, delta=1e-5, sample_rate=sample_rate, steps=steps,
                            accountant="rdp")  # fmt: skip
    assert ours == pytest.approx(theirs, rel=0.01) and theirs <= 2.0 * 1.01
    less = composed_epsilon(split.count_std, split.gradient * 0.99, delta=1e-5, sample_rate=sample_rate,
                            steps=steps, accountant="rdp")  # fmt: skip
    assert less > 2.0  # not needlessly noisy


@pytest.mark.parametrize("method", method_names())
def test_every_method_records_the_epsilon_of_its_own_accountant_within_the_target(method):
    x, y = tiny_data(n=40)
    sigma = noise_multiplier_for(3.0, 1e-5, 0.25, 30, "rdp")
    member = Member(build_model(ModelSettings(width=3, init_std=0.5), x.shape[-1], 2, seed=1), x, y, 0,
                    noise_multiplier=sigma, epsilon=3.0, groups=y, num_groups=2)  # fmt: skip
    (record,) = train_stack([member], training=settings(method, steps=30, batch_size=10), device=CPU)
    assert 2.9 < record.epsilon_spent <= 3.0 * 1.001
    assert record.method == method and record.gradient_noise_multiplier >= sigma


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            "experiments.class_imbalance.training",
            {"method": "dpsgd-f", "groups": "subpopulation"},
            r"experiments.class_imbalance.training.groups': subpopulation groups for \['dpsgd-f'\]",
        ),
        (
            "experiments.class_imbalance.training",
            {"method": "adaptive-clipping", "grad_sample_mode": "hooks"},
            r"experiments.class_imbalance.training.method': \['adaptive-clipping'\] need grad_sample_mode fast",
        ),
        ("experiments.class_imbalance.training", {"method": "fair-sgd"}, r"training.method': 'fair-sgd' is not one"),
    ],
    ids=["groups-without-tail", "not-fast", "unknown"],
)
def test_a_method_that_does_not_apply_is_refused_naming_the_key(default_config, key, value, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(set_key(default_config, key, value))


def disparity_table(drops: dict) -> pd.DataFrame:
    """test_accuracy_change rows for methods x groups x seeds at epsilon 1, plus non-private accuracy."""
    rows = []
    for (method, group), per_seed in drops.items():
        for seed, drop in enumerate(per_seed):
            common = {"sweep": "imbalance", "method": method, "group": group, "seed": seed, "attack_radius": np.nan}
            rows.append({**common, "epsilon": 1.0, "metric": "test_accuracy_change", "value": -drop})
            rows.append({**common, "epsilon": 1.0, "metric": "test_accuracy", "value": 0.9 - drop})
            rows.append({**common, "epsilon": math.inf, "metric": "test_accuracy", "value": 0.9})
        for seed in range(len(per_seed)):
            all_rows = {"sweep": "imbalance", "method": method, "group": "all", "seed": seed, "attack_radius": np.nan}
            rows.append({**all_rows, "epsilon": 1.0, "metric": "test_accuracy", "value": 0.8})
    return pd.DataFrame(rows).drop_duplicates(subset=["method", "group", "seed", "epsilon", "metric"])


def test_the_fair_effect_is_the_worst_groups_gain_and_levelling_down_fails_the_guardrail():
    table = disparity_table({
        ("dp-sgd", "class0"): [0.02, 0.03, 0.01], ("dp-sgd", "class1"): [0.30, 0.25, 0.35],
        ("dpsgd-f", "class0"): [0.05, 0.05, 0.05], ("dpsgd-f", "class1"): [0.15, 0.20, 0.25],
        # levelling down: the disparity vanishes because the best group loses, the worst gains nothing
        ("fnr-balanced", "class0"): [0.30, 0.25, 0.35], ("fnr-balanced", "class1"): [0.30, 0.25, 0.35],
    })  # fmt: skip
    np.testing.assert_allclose(disparity(table, "dp-sgd", 1.0).to_numpy(), [28.0, 22.0, 34.0])
    np.testing.assert_allclose(disparity(table, "dpsgd-f", 1.0).to_numpy(), [10.0, 15.0, 20.0])
    context = Context(confidence=0.95, epsilons="mean", room_above_chance=5, bootstrap=10, min_effect=2.0)
    fairer = worst_group_gain("dpsgd-f", "imbalance")(table, context)
    assert fairer.mean == pytest.approx(np.mean([15.0, 5.0, 10.0]))  # class1's drop shrinks by these points
    assert fairer.low < fairer.mean < fairer.high and fairer.n_seeds == 3
    assert "+13.00 points removed" in fairer.note
    levelled = worst_group_gain("fnr-balanced", "imbalance")(table, context)
    assert levelled.mean == pytest.approx(0.0, abs=1e-9) and "+28.00 points removed" in levelled.note
    overall = (table["method"] == "fnr-balanced") & (table["group"] == "all")
    table.loc[overall, "value"] = [0.66, 0.69, 0.63]  # the best group's loss shows in the overall accuracy
    assert overall_change("fnr-balanced", "imbalance")(table, context).tolist() == pytest.approx([-14.0, -11.0, -17.0])


def test_the_fair_comparison_stays_out_of_the_pooled_fnr_table(default_config):
    from dpharm.setup.plan import Plan

    config = set_key(default_config, "experiments.fair_dpsgd.enabled", True)
    plan = Plan(validate_config(config))
    assert "fair_dpsgd" in plan.experiments and "fair_dpsgd" not in plan.pooled_fnr_experiments()
    assert "class_imbalance" in plan.pooled_fnr_experiments()
    methods = {c.params["training"]["method"] for c in plan.of_experiment("fair_dpsgd")}
    assert methods == set(method_names())
    seeds_data = {(c.params["training"]["method"], c.data_id) for c in plan.of_experiment("fair_dpsgd")}
    assert len({data for _, data in seeds_data}) == 2, "every method trains on the same data (paired)"


def test_groups_are_the_cells_the_data_design_has():
    from dpharm.training.fair import training_groups

    tail_in_class_0 = {"train_y": np.array([0, 0, 1, 2, 0]), "train_subpopulation": np.array([0, 1, 0, 0, 1]),
                       "subpopulation_frequencies": np.array([[0.9, 0.1], [1.0, 0.0], [1.0, 0.0]])}  # fmt: skip
    groups, count = training_groups(tail_in_class_0, "subpopulation")
    assert groups.tolist() == [0, 1, 2, 3, 1] and count == 4  # no empty tail groups for classes 1 and 2
    groups, count = training_groups(tail_in_class_0, "class")
    assert groups.tolist() == [0, 0, 1, 2, 0] and count == 3


def test_an_empty_batch_still_releases_the_methods_statistic():
    empty = Batch(torch.zeros(3, 0, 2, 16), torch.zeros(3, 0, dtype=torch.long), torch.zeros(3, 0), [0, 0, 0], None)
    seen = []
    total = stack_gradients(torch.ones(3, 12, 16), None, empty, num_classes=2, width=6, patches=2, clip_norm=0.2,
                            factors_of=lambda norms: seen.append(norms.shape) or norms)  # fmt: skip
    assert seen == [(3, 0)] and not total.any()
    noise = split_noise("adaptive-clipping", 4.0, share=0.1, epsilon=1.0, delta=1e-5, sample_rate=0.1, steps=10,
                        accountant="rdp")  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    clipping = create_clipping("adaptive-clipping", settings("adaptive-clipping"), noise, 5.0, generator)
    clipping.factors(torch.zeros(0), None, torch.zeros(0))
    assert clipping.threshold != CLIP  # the noisy count of an empty batch moves the bound as any other
