"""Empirical privacy audit: a canary membership test that lower-bounds epsilon.

Many trainings with and without one canary example (Jagielski et al. 2020; Nasr et al.
2021). The canary lives on a coordinate no other example uses, with a gradient far above the
clipping norm, so its influence on the weights points along one known direction. The test
statistic is the weights' move along that direction. The trials are split in two: the first
half picks the decision threshold, the second half gives Clopper-Pearson upper bounds on its
false-positive and false-negative rates, which bound epsilon from below:

    epsilon >= max(log((1 - delta - FNR) / FPR), log((1 - delta - FPR) / FNR)).

Each rate is bounded at confidence 1 - (1 - confidence) / 2, so both hold together with the
stated confidence. Written by hand because no maintained library for DP auditing covers
Opacus training (the statistic and the bound are a few lines). The trials of one side run as
one stack of the pipeline's own DP-SGD (`dpharm.training.stacked`), so the audit checks the mechanism
the experiments use.

Broken controls show the audit has power: `no-noise` adds no noise, `no-clipping` clips at a
bound a million times larger than the C its noise is calibrated for; both claim the same
epsilon as `dp-sgd`. The fair DP-SGD methods (`dpharm.training.fair`) are audited as they train, their
groups being the classes; each claims the epsilon its own accountant reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import nn

from dpharm.claims.rules import BROKEN_MECHANISMS
from dpharm.setup.runtime import configure_torch
from dpharm.training.members import Member
from dpharm.training.methods import BASELINE_METHOD, method_names, training_method
from dpharm.training.model import build_model
from dpharm.training.privacy import epsilon_spent, noise_multiplier_for
from dpharm.training.seeds import derive_seed
from dpharm.training.settings import ModelSettings, TrainingSettings
from dpharm.training.stacked import train_stack


def mechanisms() -> list[str]:
    """What the audit can run: every registered training method and the broken controls."""
    return [*method_names(), *BROKEN_MECHANISMS]


UNCLIPPED = 1e6  # "no clipping": the clipping bound is this many times the nominal C


@dataclass(frozen=True)
class AuditSetting:
    """What one audited mechanism trains with: its noise multiplier and clipping bound."""

    mechanism: str
    noise_multiplier: float
    clip_norm: float


def setting(mechanism: str, audit: dict) -> AuditSetting:
    """dp-sgd at the noise multiplier solved for the audit's epsilon (full batch: sample rate 1), or a
    broken control (module docstring)."""
    sigma = noise_multiplier_for(audit["epsilon"], audit["delta"], 1.0, audit["steps"], "rdp")
    clip = audit["clip_norm"]
    if mechanism in method_names():
        return AuditSetting(mechanism, sigma, clip)
    if mechanism == "no-noise":
        return AuditSetting(mechanism, 0.0, clip)
    if mechanism == "no-clipping":  # noise std sigma * C as claimed, but gradients unbounded
        return AuditSetting(mechanism, sigma / UNCLIPPED, clip * UNCLIPPED)
    raise ValueError(f"unknown mechanism {mechanism!r} (allowed: {mechanisms()})")


def audit_data(audit: dict, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Base training set (two patches, features on the first coordinates) and the canary.

    The last coordinate is reserved for the canary: zero in every other example.
    """
    rng = np.random.default_rng(seed)
    n, d = audit["n_train"], audit["dimension"]
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 2, d))
    x[:, :, :2] = 0.0
    x[np.arange(n), rng.integers(0, 2, n), y] = audit["feature_norm"]  # signal patch u_y = ||u|| e_y
    x[:, :, -1] = 0.0
    canary = np.zeros((1, 2, d))
    canary[0, 0, -1] = audit["canary_scale"]
    return (torch.tensor(x, dtype=torch.float32), torch.tensor(y), torch.tensor(canary, dtype=torch.float32))


def canary_direction(model: nn.Module, canary: torch.Tensor) -> torch.Tensor:
    """Unit vector of the canary's negative gradient at the (fixed) initialisation."""
    model.zero_grad()
    nn.functional.cross_entropy(model(canary), torch.tensor([1])).backward()
    direction = -model.filters.weight.grad.detach().clone()
    model.zero_grad()
    return direction / direction.norm()


@dataclass(frozen=True)
class AuditBase:
    """What every trial shares: the base data, the canary and its direction at the fixed init."""

    x: torch.Tensor
    y: torch.Tensor
    canary: torch.Tensor
    direction: torch.Tensor


def _model(audit: dict, dimension: int) -> nn.Module:
    return build_model(ModelSettings(width=audit["width"], init_std=audit["init_std"]), dimension, 2, seed=0)


def audit_base(audit: dict) -> AuditBase:
    """Seed 0's base data and canary, and the canary direction at the init every trial starts from."""
    x, y, canary = audit_data(audit, seed=0)
    return AuditBase(x, y, canary, canary_direction(_model(audit, x.shape[-1]), canary))


def trial_statistics(
    audit: dict, base: AuditBase, chosen: AuditSetting, include_canary: bool, trials: int
) -> tuple[np.ndarray, float]:
    """Train `trials` models (with or without the canary), each with its own sampling and noise,
    as one stack of the pipeline's DP-SGD; return each one's move along the canary direction and
    the epsilon the first one's accountant reports."""
    x, y = base.x, base.y
    if include_canary:
        x, y = torch.cat([x, base.canary]), torch.cat([y, torch.tensor([1])])
    members = [
        Member(
            _model(audit, x.shape[-1]),
            x,
            y,
            derive_seed(trial, f"audit-{include_canary}"),
            noise_multiplier=chosen.noise_multiplier,
            epsilon=audit["epsilon"],
            groups=y if chosen.mechanism in method_names() and training_method(chosen.mechanism).needs_groups else None,
            num_groups=2,
        )
        for trial in range(trials)
    ]
    start = members[0].model.filters.weight.detach().clone()  # every trial starts from the same init
    training = TrainingSettings(
        steps=audit["steps"],
        learning_rate=audit["learning_rate"],
        batch_size=len(y),
        clip_norm=chosen.clip_norm,
        delta=audit["delta"],
        accountant="rdp",
        method=chosen.mechanism if chosen.mechanism in method_names() else BASELINE_METHOD,
    )
    records = train_stack(members, training=training, device=torch.device("cpu"))
    moved = torch.stack([member.model.filters.weight.detach() for member in members]) - start
    return (moved * base.direction).sum(dim=(1, 2)).numpy(), records[0].epsilon_spent


def epsilon_lower_bound(
    scores_out: np.ndarray, scores_in: np.ndarray, delta: float, confidence: float
) -> tuple[float, float, float]:
    """Split-half audit bound; returns (epsilon lower bound, FPR upper bound, FNR upper bound)."""
    half_out, half_in = len(scores_out) // 2, len(scores_in) // 2
    alpha = (1 - confidence) / 2
    threshold = _best_threshold(scores_out[:half_out], scores_in[:half_in], delta, alpha)
    held_out, held_in = scores_out[half_out:], scores_in[half_in:]
    fpr = _clopper_pearson_upper(int((held_out >= threshold).sum()), len(held_out), alpha)
    fnr = _clopper_pearson_upper(int((held_in < threshold).sum()), len(held_in), alpha)
    return _epsilon(fpr, fnr, delta), fpr, fnr


def epsilon_ceiling(trials: int, delta: float, confidence: float) -> float:
    """The largest lower bound `epsilon_lower_bound` can report from `trials` trainings per side:
    a perfect attack on the held-out half (no false positive, no false negative). A bound at
    this value says the attack found everything that the trials can show, not how much leaks."""
    alpha = (1 - confidence) / 2
    held_out = trials - trials // 2
    rate = _clopper_pearson_upper(0, held_out, alpha)
    return _epsilon(rate, rate, delta)


def _epsilon(fpr: float, fnr: float, delta: float) -> float:
    candidates = [0.0]
    for a, b in ((fnr, fpr), (fpr, fnr)):
        if 1 - delta - a > 0 and b > 0:
            candidates.append(math.log((1 - delta - a) / b))
    return max(candidates)


def _best_threshold(scores_out: np.ndarray, scores_in: np.ndarray, delta: float, alpha: float) -> float:
    """Threshold whose bound, computed on the selection half alone, is largest.

    Bounding (rather than estimating) the rates keeps the choice away from extreme thresholds
    that look good only because few trials fall beyond them.
    """
    best, best_value = math.inf, -1.0
    for threshold in np.unique(np.concatenate([scores_out, scores_in])):
        fpr = _clopper_pearson_upper(int((scores_out >= threshold).sum()), len(scores_out), alpha)
        fnr = _clopper_pearson_upper(int((scores_in < threshold).sum()), len(scores_in), alpha)
        value = _epsilon(fpr, fnr, delta)
        if value > best_value:
            best, best_value = threshold, value
    return float(best)


def _clopper_pearson_upper(failures: int, trials: int, alpha: float) -> float:
    return 1.0 if failures >= trials else float(stats.beta.ppf(1 - alpha, failures + 1, trials - failures))


def run_audit(audit: dict, progress: bool = False) -> list[dict]:
    """One row per mechanism: the accountant's epsilon next to the empirical lower bound."""
    from tqdm import tqdm

    configure_torch(1)
    nominal = setting(BASELINE_METHOD, audit).noise_multiplier
    claimed = epsilon_spent(nominal, 1.0, audit["steps"], audit["delta"], "rdp")  # what every mechanism claims
    base = audit_base(audit)
    rows = []
    for mechanism in audit["mechanisms"]:
        chosen = setting(mechanism, audit)
        scores, spent = {}, {}
        for flag in tqdm((False, True), desc=mechanism, disable=not progress):
            scores[flag], spent[flag] = trial_statistics(audit, base, chosen, flag, audit["trials"])
        bound, fpr, fnr = epsilon_lower_bound(scores[False], scores[True], audit["delta"], audit["confidence"])
        rows.append(
            {
                "mechanism": mechanism,
                "epsilon_accountant": max(spent.values()) if mechanism in method_names() else claimed,
                "epsilon_lower_bound": bound,
                "epsilon_ceiling": epsilon_ceiling(audit["trials"], audit["delta"], audit["confidence"]),
                "confidence": audit["confidence"],
                "n_trials": 2 * audit["trials"],
                "delta": audit["delta"],
                "noise_multiplier": chosen.noise_multiplier,
                "clip_norm": chosen.clip_norm,
                "steps": audit["steps"],
                "fpr_upper": fpr,
                "fnr_upper": fnr,
            }
        )
    return rows
