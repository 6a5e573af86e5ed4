"""Fair DP-SGD variants (`training.method`) on the fast path: how each one clips, what it
releases privately, and the noise split that keeps the total privacy at the target.

Every method changes only the per-example scale c_i of the clipped sum sum_i c_i G_i
(`dpharm.training.stacked` has the norms ||G_i|| in closed form) and the sensitivity the noise is
calibrated to; Opacus still samples, adds the noise, steps and accounts.

- `dp-sgd`: c_i = min(1, C / ||G_i||); sensitivity C.
- `adaptive-clipping` (Andrew et al. 2021): C_t follows the `target_unclipped_quantile` of the
  norms, C_{t+1} = C_t exp(-eta (unclipped share - target)), from a private count.
- `bounded-adaptive-clipping` (arXiv 2506.01396): the same, never below `min_clip_norm`.
- `dpsgd-global-adapt` (Esipova et al. 2023): c_i = C / max(Z_t, ||G_i||): every gradient under
  the threshold Z_t keeps its direction and relative size; Z_t follows the
  `global_unclipped_quantile` as above; sensitivity C.
- `dpsgd-f` (Xu, Du & Wu 2021): group-wise bounds C_k = C (1 + b_k / sum_j b_j), b_k the
  private share of group k's examples clipped at C; sensitivity (and noise) max_k C_k.
- `fnr-balanced` (ours, docs/fair_dpsgd.md): post-clip group weights w_g = min_h n_h / n_g from
  group counts released once before training; sensitivity C.

Privacy. A per-step statistic is released on the same Poisson batch as the gradient sum: the
pair is one Gaussian mechanism whose noise multiplier z satisfies
z^-2 = z_grad^-2 + (sensitivity_stat / std_stat)^2 (Andrew et al., Theorem 1). The accountant
records z, the noise multiplier solved for the target epsilon; `statistics_share` of 1/z^2
goes to the statistic, the rest to the gradient (z_grad = z / sqrt(1 - share)). The adaptive
methods release the centred count sum_i (1[||G_i|| <= C_t] - 1/2) (sensitivity 1/2) and divide
by the expected batch size. Opacus's own AdaClipDPOptimizer is not used: in Opacus 1.6 it
accounts for sensitivity 1/2 but releases the uncentred count (sensitivity 1) and divides by
the realised batch size, which is not private under Poisson sampling. `dpsgd-f` releases a
histogram (group x clipped or not; each example in one cell: sensitivity 1). `fnr-balanced`
releases its counts once, a Gaussian mechanism of rate 1 composed with the training steps in
the same accountant; its count noise takes `statistics_share` of the training's RDP at the
order that sets epsilon, and the gradient noise is solved for what is left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from opacus.accountants import RDPAccountant
from opacus.accountants.analysis import rdp as rdp_analysis

from dpharm.training.methods import training_method
from dpharm.training.patch_gradients import NORM_EPSILON, clip_factors
from dpharm.training.privacy import composed_epsilon

# an adaptive bound stays within these multiples of C: its geometric walk can neither underflow
# to an absorbing 0 nor overflow (public constants, so the clamp costs no privacy)
THRESHOLD_RANGE = (1e-6, 1e6)


@dataclass(frozen=True)
class NoiseSplit:
    """Noise of one model: the gradient's noise multiplier (std over the sensitivity), the std of
    each per-step statistic and of the one-off group counts (0 when not released), and the per-step
    noise multiplier the accountant records."""

    gradient: float
    statistic_std: float
    count_std: float
    accounted: float


def split_noise(
    method: str, sigma: float, *, share: float, epsilon: float, delta: float, sample_rate: float, steps: int,
    accountant: str,
) -> NoiseSplit:  # fmt: skip
    """The noise of `method` for a model whose DP-SGD would use noise multiplier `sigma` (solved
    for `epsilon`): the same total privacy (module docstring)."""
    released = training_method(method)
    if sigma == 0 or not (released.step_statistic_sensitivity or released.releases_group_counts):
        return NoiseSplit(sigma, 0.0, 0.0, sigma)
    if released.step_statistic_sensitivity:
        std = released.step_statistic_sensitivity * sigma / math.sqrt(share)
        return NoiseSplit(sigma / math.sqrt(1 - share), std, 0.0, sigma)
    count_std = _count_std(sigma, share, delta, sample_rate, steps)
    gradient = _gradient_noise_after_counts(count_std, sigma, epsilon, delta, sample_rate, steps, accountant)
    return NoiseSplit(gradient, 0.0, count_std, gradient)


def _count_std(sigma: float, share: float, delta: float, sample_rate: float, steps: int) -> float:
    """Count noise whose RDP is `share` of the training's at the order that sets its epsilon."""
    orders = RDPAccountant.DEFAULT_ALPHAS
    rdp = rdp_analysis.compute_rdp(q=sample_rate, noise_multiplier=sigma, steps=steps, orders=orders)
    _, order = rdp_analysis.get_privacy_spent(orders=orders, rdp=rdp, delta=delta)
    at_order = float(rdp[list(orders).index(order)])
    return math.sqrt(order / (2 * share * at_order))  # a Gaussian's RDP at order a: a / (2 std^2)


def _gradient_noise_after_counts(count_std, sigma, epsilon, delta, sample_rate, steps, accountant) -> float:
    """Smallest gradient noise (within 0.1%) whose composition with the counts meets `epsilon`."""

    def spent(gradient):
        return composed_epsilon(
            count_std, gradient, delta=delta, sample_rate=sample_rate, steps=steps, accountant=accountant
        )

    low, high = sigma, 2 * sigma
    while spent(high) > epsilon:
        if high > 1e6 * sigma:
            raise ValueError(
                f"no gradient noise meets epsilon {epsilon:g} after the group counts: sigma {sigma:g} is not "
                "DP-SGD's noise for this epsilon, or the counts take all of it (lower statistics_share)"
            )
        low, high = high, 2 * high
    while high - low > 1e-3 * high:
        middle = (low + high) / 2
        low, high = (middle, high) if spent(middle) > epsilon else (low, middle)
    return high


def training_groups(arrays: dict, grouping: str) -> tuple[torch.Tensor, int]:
    """Each training example's group id and the number of groups: its class, or its
    (class, subpopulation) among those the data design has (on images only class 0 has a tail;
    which classes have one is the design's, not a private fact)."""
    labels = torch.as_tensor(arrays["train_y"], dtype=torch.long)
    frequencies = torch.as_tensor(arrays["subpopulation_frequencies"])
    if grouping == "class":
        return labels, frequencies.shape[0]
    designed = frequencies > 0
    ids = torch.cumsum(designed.flatten().long(), 0).view(designed.shape) - 1  # row-major over designed cells
    subpopulation = torch.as_tensor(arrays["train_subpopulation"], dtype=torch.long)
    return ids[labels, subpopulation], int(designed.sum())


def release(value: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """`value` (moved to the CPU, where the statistics generator draws) plus Gaussian noise of
    `std` from the model's own seeded statistics generator."""
    value = value.detach().cpu()
    if std == 0:
        return value.clone()
    return value + torch.normal(0.0, std, size=value.shape, generator=generator, dtype=value.dtype)


class Clipping:
    """One model's clipping, DP-SGD's: c_i = min(1, C / ||G_i||), sensitivity C. Every method
    (`dpharm.training.methods`) subclasses it.

    `factors(norms, groups, included)` takes one model's batch (norms and groups of shape (B,),
    `included` 1 for a sampled example) and returns c (B,), moving the method's state by the
    private statistic it releases; `bound` is then the sensitivity of that step's sum (every
    c_i ||G_i|| <= bound). `uniform` marks one clip norm for every example, which the stack
    applies to all its models in one batched call."""

    uniform = True

    def __init__(self, training, noise: NoiseSplit, expected_batch: float, generator: torch.Generator,
                 group_counts: torch.Tensor | None = None):  # fmt: skip
        self.training, self.noise, self.expected_batch, self.generator = training, noise, expected_batch, generator
        self.clip_norm = training.clip_norm
        self.bound = training.clip_norm

    def factors(self, norms: torch.Tensor, groups: torch.Tensor | None, included: torch.Tensor) -> torch.Tensor:
        """Per-example scales of one step (and the state update its statistic allows)."""
        return clip_factors(norms, self.clip_norm)


class AdaptiveClipping(Clipping):
    """`adaptive-clipping`: C_t follows the `target_unclipped_quantile` of the norms,
    C_{t+1} = C_t exp(-eta (unclipped share - target)), from a private centred count."""

    uniform = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.threshold = self.clip_norm  # C_t (adaptive) or Z_t (global-adapt)

    def quantile(self) -> float:
        return self.training.target_unclipped_quantile

    def scale(self, norms: torch.Tensor) -> torch.Tensor:
        self.bound = self.threshold
        return clip_factors(norms, self.threshold)

    def factors(self, norms: torch.Tensor, groups: torch.Tensor | None, included: torch.Tensor) -> torch.Tensor:
        factors = self.scale(norms)
        centred = (((norms <= self.threshold).to(torch.float64) - 0.5) * included).sum()
        share = float(release(centred, self.noise.statistic_std, self.generator)) / self.expected_batch + 0.5
        step = -self.training.clip_learning_rate * (share - self.quantile())
        low, high = (self.clip_norm * limit for limit in THRESHOLD_RANGE)
        self.threshold = self.clamped(min(max(self.threshold * math.exp(min(step, 50.0)), low), high))
        return factors

    def clamped(self, threshold: float) -> float:
        return threshold


class BoundedAdaptiveClipping(AdaptiveClipping):
    """`bounded-adaptive-clipping`: adaptive clipping never below `min_clip_norm`."""

    def clamped(self, threshold: float) -> float:
        return max(threshold, self.training.min_clip_norm or self.clip_norm)


class GlobalAdaptClipping(AdaptiveClipping):
    """`dpsgd-global-adapt`: c_i = C / max(Z_t, ||G_i||), Z_t following the
    `global_unclipped_quantile`; sensitivity C."""

    def quantile(self) -> float:
        return self.training.global_unclipped_quantile

    def scale(self, norms: torch.Tensor) -> torch.Tensor:
        return self.clip_norm / (norms + NORM_EPSILON).clamp(min=self.threshold)


class GroupClipping(Clipping):
    """`dpsgd-f`: group-wise bounds C_k = C (1 + b_k / sum_j b_j), b_k the private share of group
    k's examples clipped at C (a noisy histogram); sensitivity max_k C_k."""

    uniform = False

    def __init__(self, training, noise, expected_batch, generator, group_counts=None):
        super().__init__(training, noise, expected_batch, generator, group_counts)
        self.num_groups = len(group_counts)

    def factors(self, norms: torch.Tensor, groups: torch.Tensor, included: torch.Tensor) -> torch.Tensor:
        num_groups = self.num_groups
        cells = (groups * 2 + (norms > self.clip_norm).long()).cpu()  # (group, clipped at C) cells
        histogram = torch.zeros(2 * num_groups, dtype=torch.float64).index_add_(0, cells, included.double().cpu())
        noisy = release(histogram, self.noise.statistic_std, self.generator).clamp(min=0).view(num_groups, 2)
        clipped_share = noisy[:, 1] / noisy.sum(dim=1).clamp(min=1.0)
        total = clipped_share.sum()
        bounds = self.clip_norm * (1 + (clipped_share / total if total > 0 else torch.zeros_like(clipped_share)))
        self.bound = float(bounds.max())
        return (bounds.to(norms)[groups] / (norms + NORM_EPSILON)).clamp(max=1.0)


class FnrBalancedClipping(Clipping):
    """`fnr-balanced`: post-clip group weights w_g = min_h n_h / n_g from group counts released
    once before training; sensitivity C."""

    uniform = False

    def __init__(self, training, noise, expected_batch, generator, group_counts=None):
        super().__init__(training, noise, expected_batch, generator, group_counts)
        noisy = release(group_counts.to(torch.float64), noise.count_std, generator).clamp(min=1.0)
        self.weights = (noisy.min() / noisy).to(torch.float32)

    def factors(self, norms: torch.Tensor, groups: torch.Tensor, included: torch.Tensor) -> torch.Tensor:
        return self.weights.to(groups.device)[groups] * clip_factors(norms, self.clip_norm)
