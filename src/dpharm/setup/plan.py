"""Expand the configured experiments into grid points ("conditions") and their file targets.

A condition is one point of an experiment's grid; it is trained once per seed. Conditions
that share their data settings share one dataset, and those that share data, model and
pre-training settings share one pre-trained model. Conditions that differ only in
training.epsilon share a `train_id`: one training job trains every seed at every noise level of
them, and one evaluation job evaluates them. A *run* is one condition at one seed.

Every path comes from `dpharm.setup.paths`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dpharm.claims.rules import PRIVACY_AUDIT
from dpharm.data.groups import source_labels
from dpharm.experiments import REGISTRY
from dpharm.setup import paths
from dpharm.setup.config import EPSILON_KEY, resolve_sections
from dpharm.setup.grids import grid_axes, grid_points
from dpharm.training.methods import FAIR_CLAIM

FNR_TRANSITION = "fnr_transition"  # figure and table pooled over the paper's synthetic experiments
DATA_SECTIONS = ("data",)
PRETRAIN_SECTIONS = ("data", "model", "pretraining")


def format_value(value) -> str:
    """Path-friendly rendering of a grid value: 4.0 -> '4', inf -> 'inf', True -> 'true'."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        if value.is_integer():
            return str(int(value))
    return str(value)


def condition_id(grid_point: dict, sections: tuple[str, ...] | None = None) -> str:
    """'feature_norm=4__epsilon=inf' from the grid keys of the given sections ('base' if none)."""
    parts = [
        f"{key.split('.', 1)[1]}={format_value(value)}"
        for key, value in grid_point.items()
        if sections is None or key.split(".", 1)[0] in sections
    ]
    return "__".join(parts) or "base"


@dataclass(frozen=True)
class Condition:
    """One point of an experiment's grid, with its merged settings and the ids of the jobs that
    make its dataset, its pre-trained start and its training."""

    experiment: str
    sweep: str
    id: str
    train_id: str
    data_id: str
    pretrain_id: str
    grid_point: dict = field(hash=False)
    params: dict = field(hash=False)
    labels: dict = field(hash=False)  # sweep and every swept setting of the experiment, for tables

    @property
    def uses_pretraining(self) -> bool:
        """Whether training starts from a pre-trained checkpoint (`training.init: pretrained`)."""
        return self.params["training"]["init"] == "pretrained"


def train_id(sweep: str, grid_point: dict) -> str:
    """The condition's id without its epsilon: 'main__imbalance_ratio=4', or 'main'."""
    rest = {key: value for key, value in grid_point.items() if key != EPSILON_KEY}
    return f"{sweep}__{condition_id(rest)}" if rest else sweep


def swept_keys(experiment: dict) -> list[str]:
    """Every section.key any sweep of the experiment varies, in first-seen order."""
    return list(dict.fromkeys(key for grid in experiment["sweeps"].values() for key in grid_axes(grid)))


def expand_experiment(config: dict, name: str) -> list[Condition]:
    """Every condition of one experiment: each sweep's grid points (`grid_points`) over its base settings."""
    experiment = config["experiments"][name]
    base = resolve_sections(config, experiment)
    columns = swept_keys(experiment)
    conditions = []
    for sweep, grid in experiment["sweeps"].items():
        for point in grid_points(grid):
            params = {section: dict(settings) for section, settings in base.items()}
            for key, value in point.items():
                section, setting = key.split(".", 1)
                params[section][setting] = value
            labels = {"sweep": sweep}
            for key in columns:
                section, setting = key.split(".", 1)
                labels[setting] = params[section][setting]
            conditions.append(
                Condition(
                    experiment=name,
                    sweep=sweep,
                    id=f"{sweep}__{condition_id(point)}",
                    train_id=train_id(sweep, point),
                    data_id=condition_id(point, DATA_SECTIONS),
                    pretrain_id=condition_id(point, PRETRAIN_SECTIONS),
                    grid_point=point,
                    params=params,
                    labels=labels,
                )
            )
    return conditions


def planned_conditions(config: dict, name: str) -> list[str]:
    """The condition ids of an experiment, enabled or not: what its table (committed or rebuilt) must hold."""
    return [condition.id for condition in expand_experiment(config, name)]


def _pools_fnr(name: str, conditions: list[Condition]) -> bool:
    """Whether the pooled FNR table pools the experiment: a paper experiment on the synthetic model."""
    return REGISTRY[name].claim != FAIR_CLAIM and any(c.params["data"]["source"] == "synthetic" for c in conditions)


class Plan:
    """Every condition of the enabled experiments, indexed for Snakemake's input functions."""

    def __init__(self, config: dict):
        self.seeds = list(config["seeds"])
        self.audit = config["privacy_audit"]["enabled"]
        self.experiments = [name for name, exp in config["experiments"].items() if exp["enabled"]]
        self.conditions = {
            (name, cond.id): cond for name in self.experiments for cond in expand_experiment(config, name)
        }
        self.train_jobs: dict[tuple[str, str], list[Condition]] = {}
        for c in self.conditions.values():
            self.train_jobs.setdefault((c.experiment, c.train_id), []).append(c)
        self.data = {(c.experiment, c.data_id): c for c in self.conditions.values()}
        self.pretrain = {(c.experiment, c.pretrain_id): c for c in self.conditions.values() if c.uses_pretraining}
        self._pooled_candidates = [
            name for name in config["experiments"] if _pools_fnr(name, expand_experiment(config, name))
        ]

    def of_experiment(self, experiment: str) -> list[Condition]:
        """The experiment's conditions in grid order (sweeps in config order, each its product of values)."""
        return [c for c in self.conditions.values() if c.experiment == experiment]

    def label_columns(self, experiment: str) -> list[str]:
        """Columns that identify a condition in the tables: sweep and the swept settings."""
        return list(self.of_experiment(experiment)[0].labels)

    def source_labels(self, experiment: str) -> dict[str, int]:
        """Group name -> label in the image source, for the tables; empty for synthetic data."""

        data = self.of_experiment(experiment)[0].params["data"]
        return {} if data["source"] == "synthetic" else source_labels(data["classes"], data["tail_source"])

    def data_files(self, experiment: str, data_id: str) -> list[str]:
        """Per seed, the dataset file of one `data_id`, in seed order."""
        return [paths.fill(paths.DATASET, experiment=experiment, data_id=data_id, seed=s) for s in self.seeds]

    def pretrained_files(self, experiment: str, pretrain_id: str) -> list[str]:
        """Per seed, the pre-trained checkpoint of one `pretrain_id`, in seed order."""
        return [
            paths.fill(paths.PRETRAINED, experiment=experiment, pretrain_id=pretrain_id, seed=s) for s in self.seeds
        ]

    def run_files(self, experiment: str, train_id: str, template: str) -> list[str]:
        """Per seed, a training job's file of `template` (paths.MODEL or paths.METRICS)."""
        return [paths.fill(template, experiment=experiment, train_id=train_id, seed=s) for s in self.seeds]

    def evaluation_files(self, experiment: str) -> list[str]:
        """One evaluation table per training job (`train_id`) of the experiment: its table's inputs."""
        return list(self.evaluation_runs(experiment))

    def evaluation_runs(self, experiment: str) -> dict[str, list[str]]:
        """Per evaluation table of the experiment, the condition ids it holds (each at every seed)."""
        return {
            paths.fill(paths.EVALUATION, experiment=name, train_id=train_id): [c.id for c in conditions]
            for (name, train_id), conditions in self.train_jobs.items()
            if name == experiment
        }

    def table_files(self) -> list[str]:
        """Experiment tables, the pooled FNR table and the audit's when there are: the claims' inputs."""
        pooled = [FNR_TRANSITION] if self.pooled_fnr_experiments() else []
        names = [*self.experiments, *pooled, *([PRIVACY_AUDIT] if self.audit else [])]
        return [paths.fill(paths.TABLE, name=name) for name in names]

    def pooled_fnr_experiments(self) -> list[str]:
        """The experiments the FNR table pools, when this run rebuilds it: the paper's experiments on
        the synthetic model (the ones with an FNR; the fair DP-SGD comparison trains other methods
        than DP-SGD and stays out), and only when every configured one is enabled, so that a
        partial run never replaces the pooled table with a subset (its committed copy stays)."""
        return [] if self.pooled_fnr_left_out() else [n for n in self._pooled_candidates if n in self.experiments]

    def pooled_fnr_left_out(self) -> list[str]:
        """The experiments the FNR table pools that this run leaves disabled, when it enables some."""
        enabled = [name for name in self._pooled_candidates if name in self.experiments]
        return [name for name in self._pooled_candidates if name not in self.experiments] if enabled else []

    def figure_names(self) -> list[str]:
        """One per enabled experiment, the pooled FNR figure when any is synthetic, the audit's when enabled."""
        pooled = [FNR_TRANSITION] if self.pooled_fnr_experiments() else []
        return [*self.experiments, *pooled, *([PRIVACY_AUDIT] if self.audit else [])]

    def final_targets(self) -> list[str]:
        """Every tracked result of a complete run, so that a deleted one is rebuilt: every figure
        as PDF and PNG, every table, each training job's metrics and evaluation files, the
        verdicts (the Snakefile adds the configuration's provenance record)."""
        figures = [
            paths.fill(template, name=name)
            for name in self.figure_names()
            for template in (paths.FIGURE_PDF, paths.FIGURE_PNG)
        ]
        runs = [
            path
            for experiment, train_id in self.train_jobs
            for path in [
                *self.run_files(experiment, train_id, paths.METRICS),
                paths.fill(paths.EVALUATION, experiment=experiment, train_id=train_id),
            ]
        ]
        pooled = [paths.FNR_AGREEMENT] if self.pooled_fnr_experiments() else []
        tables = [*self.table_files(), *pooled, paths.CLAIM_TESTS]
        return figures + tables + runs + paths.VERDICTS
