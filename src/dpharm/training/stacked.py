"""A stack of models trained as one batched computation: exact DP-SGD at about the cost of plain
SGD, or plain SGD itself (non-private baselines and pre-training).

Why by hand: Opacus's fastest mode for this model (ghost clipping) runs two backward passes,
because a general network's per-example norms are known only after one. Here the only
trainable layer is the first, and its per-example gradient is G_i = sum_t g_it a_it^T (g: the
gradient at the layer's output, a: its input, t over patches and views), so

    ||G_i||^2 = sum_{t,s} <g_it, g_is> <a_it, a_is>      (T x T Gram matrices, T = views x patches)

costs O(T^2 (K + d)) per example, and the clipped sum sum_i c_i G_i is one matrix product.
One forward, a backward through the cheap fixed head only, the norms, one product: no
per-example gradient is ever formed.

These closed forms (`dpharm.training.patch_gradients`) are also registered with Opacus for
`PatchFilters` (its hooks and ghost modes then use them), and `train_stack` keeps Opacus for
everything else: its Poisson sampler, its DP optimizer (noise from a seeded generator, the
1/expected-batch scaling, the SGD step) and its accountant, one of each per model. A stack of
S models (the seeds and noise levels of a grid point) shares every tensor operation as a
batched product, while each model keeps its own data, initialisation, Poisson draws, view
draws, noise multiplier, noise and accountant: it trains exactly as it would alone. A fair
DP-SGD method (`training.method`, `dpharm.training.fair`) changes only each model's per-example scales,
the sensitivity its noise is calibrated to, and the noise multiplier its accountant records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from opacus.accountants import create_accountant
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch import nn
from tqdm import tqdm

from dpharm.training.fair import Clipping, NoiseSplit, split_noise
from dpharm.training.members import Member, ViewMaker
from dpharm.training.methods import create_clipping
from dpharm.training.model import loss_and_accuracy, patch_logits
from dpharm.training.opacus_adapter import SummedGradientDPOptimizer
from dpharm.training.patch_gradients import clip_factors, per_example_gradient_norms
from dpharm.training.privacy import accountant_epsilon, poisson_sample_rate
from dpharm.training.records import TrainingRecord
from dpharm.training.seeds import derive_seed
from dpharm.training.settings import TrainingSettings, make_optimizer
from dpharm.training.stack_batches import Batch, input_grams, padded_batch, shuffled_batches


def stack_gradients(
    filters: torch.Tensor,
    frozen: torch.Tensor | None,
    batch: Batch,
    *,
    num_classes: int,
    width: int,
    patches: int,
    clip_norm: float | None,
    factors_of: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Sum over each model's batch of its examples' gradients, each clipped to `clip_norm`
    (None: not clipped), or scaled by `factors_of(norms)`, norms (S, B) -> scales (S, B), the
    per-example scales of a fair DP-SGD method (`dpharm.training.fair`).

    filters (S, K, d) trainable and frozen (S, K', d) first layers -> (S, K, d).
    An example's loss is its cross-entropy averaged over its views.
    """
    models, size, tokens, dimension = batch.x.shape
    if size == 0:  # every model drew an empty Poisson batch: nothing to add before the noise
        if factors_of is not None:  # but a method's per-step statistic is still released
            factors_of(torch.zeros(models, 0, dtype=filters.dtype, device=filters.device))
        return torch.zeros_like(filters)
    inputs = batch.x.reshape(models, size * tokens, dimension)
    hidden = torch.bmm(inputs, filters.transpose(1, 2)).requires_grad_()
    frozen_hidden = torch.bmm(inputs, frozen.transpose(1, 2)) if frozen is not None else None

    def flat(tensor):
        """(S, B*T, K) -> (S*B, T, K), a view: one row per example, as `patch_logits` expects."""
        return None if tensor is None else tensor.view(models * size, tokens, -1)

    logits = patch_logits(flat(hidden), flat(frozen_hidden), num_classes=num_classes, width=width, patches=patches)
    views = logits.shape[1]
    losses = (
        nn.functional.cross_entropy(
            logits.reshape(-1, num_classes), batch.y.reshape(-1).repeat_interleave(views), reduction="none"
        )
        .view(models, size, views)
        .mean(dim=-1)
    )
    (backprops,) = torch.autograd.grad((losses * batch.included).sum(), hidden)
    if clip_norm is not None:
        norms = per_example_gradient_norms(batch.x, backprops.view(models, size, tokens, -1), batch.input_grams)
        scales = clip_factors(norms, clip_norm) if factors_of is None else factors_of(norms)
        factors = scales.repeat_interleave(tokens, dim=1)[..., None]
        # scale whichever side of the product is smaller (K outputs or d inputs per token)
        if backprops.shape[-1] <= dimension:
            backprops = backprops * factors
        else:
            inputs = inputs * factors
    return torch.bmm(backprops.transpose(1, 2), inputs)


def _check_stack(members: list[Member]) -> None:
    shapes = {(m.model.num_classes, m.model.width, m.model.frozen, tuple(m.x.shape)) for m in members}
    if len(shapes) != 1:
        raise ValueError(f"a stack trains models and data of one shape, got {sorted(shapes)}")
    if len({m.private for m in members}) != 1:
        raise ValueError("a stack trains only private (DP-SGD) or only non-private (SGD) models, not both")


@dataclass
class ModelPrivacy:
    """One private model's noise split, its own accountant and its clipping rule."""

    noise: NoiseSplit
    accountant: object  # an Opacus accountant
    clipping: Clipping


class Stack:
    """S models that train together: one optimizer (and, for DP, one Opacus accountant and one
    seeded noise generator at the model's own noise multiplier) per model, one seeded sampler
    per model (Poisson for DP, shuffled epochs for SGD), shared batched products."""

    def __init__(
        self,
        members: list[Member],
        *,
        training: TrainingSettings,
        device: torch.device,
        make_views: ViewMaker | None = None,
    ):
        _check_stack(members)
        self.members, self.training, self.device, self.make_views = members, training, device, make_views
        # Without views an example's patches never change: its input Gram matrix (for the
        # clipping norms) is computed once here instead of at every step, and once per data set
        # (the noise levels of a seed train on the same tensor).
        self.input_grams = input_grams(members) if self.private and make_views is None else None
        n = len(members[0].y)
        for member in members:
            member.model.to(device)
        # Frozen filters never change: stacked once, not at every step.
        self.frozen = self._weights("frozen_filters") if members[0].model.frozen else None
        samplers = [torch.Generator().manual_seed(derive_seed(m.seed, "sampling")) for m in members]
        self.view_generators = [torch.Generator().manual_seed(derive_seed(m.seed, "augmentation")) for m in members]
        if self.private:
            self.sample_rate = poisson_sample_rate(n, training.batch_size)
            # The DP optimizer divides the noisy sum by it. Opacus's make_private truncates n * q
            # to an int, which loses up to one example (n = 49 at batch 1 gives 0 and a division
            # by zero); the exact expectation is used here.
            self.expected_batch_size = n * self.sample_rate
            self.batches = [
                iter(
                    UniformWithReplacementSampler(
                        num_samples=n, sample_rate=self.sample_rate, generator=g, steps=training.steps
                    )
                )
                for g in samplers
            ]
            self.privacy = [self._privacy(m) for m in members]
            self.optimizers = [
                self._dp_optimizer(m, p.accountant, p.noise) for m, p in zip(members, self.privacy, strict=True)
            ]
        else:
            self.batches = [shuffled_batches(n, min(training.batch_size, n), g) for g in samplers]
            self.optimizers = [
                make_optimizer(training.optimizer, [m.model.filters.weight], training.learning_rate) for m in members
            ]

    @property
    def private(self) -> bool:
        """DP-SGD or plain SGD for the whole stack: `_check_stack` refuses a mixed one."""
        return self.members[0].private

    def _noise_split(self, member: Member) -> NoiseSplit:
        """The member's DP-SGD noise multiplier split between its gradient and the method's
        private statistics, at the same total privacy (`dpharm.training.fair.split_noise`)."""
        training = self.training
        return split_noise(
            training.method,
            member.noise_multiplier,
            share=training.statistics_share,
            epsilon=member.epsilon,
            delta=training.delta,
            sample_rate=self.sample_rate,
            steps=training.steps,
            accountant=training.accountant,
        )

    def _privacy(self, member: Member) -> ModelPrivacy:
        """The member's noise split, accountant and clipping rule."""
        split = self._noise_split(member)
        return ModelPrivacy(split, self._accountant(split), self._clipping(member, split))

    def _accountant(self, split: NoiseSplit):
        """An Opacus accountant that already holds the one-off group count release, if any."""
        accountant = create_accountant(mechanism=self.training.accountant)
        if split.count_std > 0:
            accountant.history = [(split.count_std, 1.0, 1)]
        return accountant

    def _dp_optimizer(self, member: Member, accountant, split: NoiseSplit) -> SummedGradientDPOptimizer:
        """Opacus's DP optimizer, fed an already-clipped sum: it adds the seeded noise, divides
        by the expected batch size, steps, and tells the accountant the step's noise multiplier
        (with a per-step statistic, that of the joint mechanism: `dpharm.training.fair`)."""
        optimizer = SummedGradientDPOptimizer(
            make_optimizer(self.training.optimizer, [member.model.filters.weight], self.training.learning_rate),
            noise_multiplier=split.gradient,
            max_grad_norm=self.training.clip_norm,
            expected_batch_size=self.expected_batch_size,
            generator=torch.Generator(device=self.device).manual_seed(derive_seed(member.seed, "dp-noise")),
        )
        sample_rate = self.sample_rate

        def account(_optimizer) -> None:
            accountant.step(noise_multiplier=split.accounted, sample_rate=sample_rate)

        optimizer.attach_step_hook(account)
        return optimizer

    def _clipping(self, member: Member, split: NoiseSplit) -> Clipping:
        """The member's clipping rule, with its own seeded generator for its private statistics."""
        counts = None
        if member.groups is not None:
            counts = torch.bincount(member.groups, minlength=member.num_groups)
        generator = torch.Generator().manual_seed(derive_seed(member.seed, "dp-statistics"))
        return create_clipping(self.training.method, self.training, split, self.expected_batch_size, generator, counts)

    def _factors_of(self, batch: Batch) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """Per-example scales of every model's method; None for DP-SGD (one batched clip)."""
        if all(privacy.clipping.uniform for privacy in self.privacy):
            return None

        groups = [None] * len(self.members) if batch.groups is None else batch.groups

        def factors(norms: torch.Tensor) -> torch.Tensor:
            rows = zip(self.privacy, norms, groups, batch.included, strict=True)
            return torch.stack([privacy.clipping.factors(*row) for privacy, *row in rows])

        return factors

    def draw_batch(self) -> Batch:
        """Every model's next batch (Poisson or shuffled), with its views when augmenting."""
        indices = [torch.as_tensor(next(batch), dtype=torch.long) for batch in self.batches]
        return padded_batch(self.members, indices, self.view_generators, self.make_views, self.input_grams, self.device)

    def _weights(self, layer: str) -> torch.Tensor:
        """One layer of every model as (S, K, d); a view, not a copy, for a single model."""
        weights = [getattr(m.model, layer).weight.detach() for m in self.members]
        return weights[0][None] if len(weights) == 1 else torch.stack(weights)

    def step(self, batch: Batch) -> None:
        """One update of every model from its batch (clipped and noised when private)."""
        first = self.members[0].model
        sums = stack_gradients(
            self._weights("filters"),
            self.frozen,
            batch,
            num_classes=first.num_classes,
            width=first.width,
            patches=self.members[0].x.shape[1],
            clip_norm=self.training.clip_norm if self.private else None,
            factors_of=self._factors_of(batch) if self.private else None,
        )
        for index, (member, optimizer, total, size) in enumerate(
            zip(self.members, self.optimizers, sums, batch.sizes, strict=False)
        ):
            optimizer.zero_grad(set_to_none=True)
            if self.private:  # the noise is calibrated to this step's sensitivity
                optimizer.max_grad_norm = self.privacy[index].clipping.bound
            # DP: Opacus adds the noise and divides by the expected batch size; SGD: the batch mean.
            member.model.filters.weight.grad = total if self.private else total / size
            optimizer.step()

    def records(self, seconds: float) -> list[TrainingRecord]:
        """Every member's record after training: train loss and accuracy, and for DP-SGD the
        epsilon its own accountant reports."""
        return [self._record(index, member, seconds) for index, member in enumerate(self.members)]

    def _record(self, index: int, member: Member, seconds: float) -> TrainingRecord:
        loss, accuracy = loss_and_accuracy(member.model, member.x.to(self.device), member.y.to(self.device))
        training = self.training
        shared = {
            "epsilon_target": float(member.epsilon),
            "delta": training.delta,
            "steps": training.steps,
            "train_loss": loss,
            "train_accuracy": accuracy,
            "train_seconds": seconds,
            "models_in_stack": len(self.members),
            "augmentation_multiplicity": training.augmentation_multiplicity,
        }
        if not self.private:
            return TrainingRecord(
                **shared,
                epsilon_spent=float("inf"),
                accountant=None,
                grad_sample_mode=None,
                noise_multiplier=0.0,
                private=False,
                batch_size=min(training.batch_size, len(member.y)),
            )
        privacy = self.privacy[index]
        epsilon = accountant_epsilon(privacy.accountant, training.accountant, training.delta)
        return TrainingRecord(
            **shared,
            epsilon_spent=epsilon,
            accountant=training.accountant,
            grad_sample_mode="fast",
            noise_multiplier=float(member.noise_multiplier),
            private=True,
            method=training.method,
            gradient_noise_multiplier=privacy.noise.gradient,
            statistic_noise_std=privacy.noise.statistic_std,
            count_noise_std=privacy.noise.count_std,
            final_clip_norm=privacy.clipping.bound,
            sample_rate=self.sample_rate,
            expected_batch_size=self.expected_batch_size,
            clip_norm=training.clip_norm,
        )


def train_stack(
    members: list[Member],
    *,
    training: TrainingSettings,
    device: torch.device,
    progress: bool = False,
    description: str = "stack",
    make_views: ViewMaker | None = None,
) -> list[TrainingRecord]:
    """Train every member for `training.steps` steps: DP-SGD at its noise multiplier (Poisson
    sampling at rate 1/ceil(n/batch_size), clipping at C) or, when that is None, plain
    minibatch SGD. Returns one record per member."""
    stack = Stack(members, training=training, device=device, make_views=make_views)
    started = time.perf_counter()
    for _ in tqdm(range(training.steps), desc=description, disable=not progress, mininterval=2.0):
        stack.step(stack.draw_batch())
    return stack.records(time.perf_counter() - started)
