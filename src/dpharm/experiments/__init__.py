"""The experiments: what each one draws, how it is captioned and how it is judged.

An experiment is one config block under `experiments:` plus one registered `Experiment`
(`dpharm.experiments.registry`): its claim, figure (drawn only from its table), caption, claim
tests and the swept keys its figure can show. The schema accepts any name and
`dpharm.setup.validation` accepts only registered ones, so the registry is the single list.
Importing this package registers the paper's experiments (`dpharm.experiments.paper`), then the
fair DP-SGD comparison (`dpharm.experiments.fair_dpsgd`), whose claim tests come last, and its
learning-rate tuning (`dpharm.experiments.fair_tuning`, no tests). The
recipe is docs/architecture.md, "Adding an experiment".
"""

# isort: off
from dpharm.experiments import paper  # noqa: F401 (registers)
from dpharm.experiments import fair_dpsgd  # noqa: F401 (registers)
from dpharm.experiments import fair_tuning  # noqa: F401 (registers)
from dpharm.experiments.registry import (
    ANY_SWEEP,
    CLAIMS,
    REGISTRY,
    Experiment,
    caption,
    claim_statements,
    claim_tests,
    configurable_names,
    register,
    register_claim,
)
# isort: on

__all__ = ["ANY_SWEEP", "CLAIMS", "REGISTRY", "Experiment", "caption", "claim_statements", "claim_tests",
           "configurable_names", "register", "register_claim"]  # fmt: skip
