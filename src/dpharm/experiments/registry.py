"""The registry of experiments and claims: one `Experiment` holds every fact of an experiment
(its claim, figure, caption, claim tests and the sweeps its figure can show)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import Mapping

from dpharm.claims.rules import ClaimTest
from dpharm.setup.config import EPSILON_KEY  # every figure shows the privacy budget

ANY_SWEEP = "*"  # a `shown_keys` entry that applies to a sweep of any name


@dataclass(frozen=True)
class Experiment:
    """One registered experiment (or pooled figure, when `configurable` is False).

    `figure` is "module:function", a function (table, errorbar) -> matplotlib Figure; it is
    imported only when drawn, because matplotlib and seaborn take seconds to import and the
    Snakefile reads this registry at every start. `verdict_lines`, "module:function" too, a
    function (tests, table) -> lines, replaces the one line per test under the figure with a
    shorter summary (the fair comparison: one line per design). `shown_keys` maps a sweep name (or ANY_SWEEP)
    to the section.key values the figure tells apart besides training.epsilon; a sweep over any
    other key would be averaged silently, so the config check refuses it.
    """

    name: str
    claim: str
    caption: str
    figure: str
    tests: tuple[ClaimTest, ...] = ()
    shown_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)
    configurable: bool = True
    verdict_lines: str | None = None

    def draw(self, table, errorbar):
        """Import `figure` and draw it; `errorbar` is seaborn's (`dpharm.reporting.plots.interval_of`)."""
        module, function = self.figure.split(":")
        return getattr(importlib.import_module(module), function)(table, errorbar)

    def summarise_verdicts(self, tests, table) -> list[str] | None:
        """The figure's verdict lines from `verdict_lines`, or None for one line per test."""
        if self.verdict_lines is None:
            return None
        module, name = self.verdict_lines.split(":")
        return getattr(importlib.import_module(module), name)(tests, table)

    def sweep_errors(self, sweep: str, keys, paired=()) -> list[str]:
        """Why a sweep of this experiment over `keys` cannot be shown (empty when it can); keys
        `paired` with a shown key vary only with it, so the figure shows them too."""
        shown = self.shown_keys.get(sweep, self.shown_keys.get(ANY_SWEEP))
        if shown is None:
            return [
                f"the {self.name} figure has no panel for a sweep named '{sweep}' (allowed: {sorted(self.shown_keys)})"
            ]
        allowed = {EPSILON_KEY, *shown}
        if allowed & set(paired):
            allowed |= set(paired)
        return [
            f"the {self.name} figure cannot show a sweep over '{key}' (allowed: {sorted(allowed)})"
            for key in keys
            if key not in allowed
        ]


REGISTRY: dict[str, Experiment] = {}
CLAIMS: dict[str, str] = {}  # claim id -> statement


def register_claim(claim: str, statement: str) -> None:
    """Add a claim (id and statement) that experiments test."""
    CLAIMS[claim] = statement


def claim_statements() -> dict[str, str]:
    """Claim id -> statement, as the claims table shows them."""
    return dict(CLAIMS)


def register(experiment: Experiment) -> Experiment:
    """Add an experiment to the registry (a name is registered once), binding each of its tests to
    it and to its claim (a test names another claim only when it tests that one)."""
    if experiment.name in REGISTRY:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    if experiment.claim not in CLAIMS:
        raise ValueError(f"experiment {experiment.name!r} tests the unregistered claim {experiment.claim!r}")
    tests = tuple(replace(test, experiment=experiment.name, claim=test.claim or experiment.claim)
                  for test in experiment.tests)  # fmt: skip
    for test in tests:
        if test.claim not in CLAIMS:
            raise ValueError(f"test {test.name!r} of {experiment.name!r} tests the unregistered claim {test.claim!r}")
    REGISTRY[experiment.name] = replace(experiment, tests=tests)
    return REGISTRY[experiment.name]


def configurable_names() -> list[str]:
    """Names an `experiments:` block of the config may use."""
    return [name for name, experiment in REGISTRY.items() if experiment.configurable]


def claim_tests() -> list[ClaimTest]:
    """Every registered claim test, in registration order."""
    return [test for experiment in REGISTRY.values() for test in experiment.tests]


def caption(name: str) -> str:
    """The figure caption of a registered experiment (KeyError for another name)."""
    return REGISTRY[name].caption
