"""What a training job writes and the later stages read, as typed records.

- `TrainingRecord`: one trained model (a *run*: one condition at one seed). Both training paths
  write it; the evaluation tables read it.
- `SeedMetrics`: a training job's metrics file for one seed, one `TrainingRecord` per condition.
- `SeedFiles`: the files of one seed of a training job, so that they travel together.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields

from dpharm.io import read_json, unusable_intermediate, write_json


@dataclass(frozen=True)
class TrainingRecord:
    """The privacy and training facts of one run. Non-private runs have epsilon_spent inf, noise
    multiplier 0 and no accountant; private runs record their sampling and clipping."""

    epsilon_target: float
    epsilon_spent: float
    delta: float | None
    accountant: str | None
    grad_sample_mode: str | None
    noise_multiplier: float
    steps: int
    train_loss: float
    train_accuracy: float
    train_seconds: float
    models_in_stack: int
    augmentation_multiplicity: int
    private: bool
    sample_rate: float | None = None
    expected_batch_size: float | None = None
    clip_norm: float | None = None
    batch_size: int | None = None
    # fair DP-SGD (`dpharm.training.fair`); noise_multiplier is then the one the accountant records
    method: str | None = None
    gradient_noise_multiplier: float | None = None
    statistic_noise_std: float | None = None
    count_noise_std: float | None = None
    final_clip_norm: float | None = None  # the sensitivity of the last step

    @property
    def applied_noise_multiplier(self) -> float:
        """The gradient noise the run added, in units of the clipping norm: a fair method's own
        (larger where it also releases a statistic), else the accountant's."""
        return self.noise_multiplier if self.gradient_noise_multiplier is None else self.gradient_noise_multiplier

    @classmethod
    def from_json(cls, raw: dict) -> TrainingRecord:
        """From a run's entry in a metrics file (JSON writes inf as the string 'inf')."""
        values = {f.name: raw[f.name] for f in fields(cls) if f.name in raw}
        for name in ("epsilon_target", "epsilon_spent"):
            values[name] = float(values[name])
        return cls(**values)


@dataclass(frozen=True)
class Run:
    """One condition at one seed: its identity in the plan and its training record."""

    condition: str
    labels: dict
    params: dict
    record: TrainingRecord

    def to_json(self) -> dict:
        """The run's entry in a metrics file: its identity beside the record's fields, flat, as
        `SeedMetrics.read` expects it."""
        return {"condition": self.condition, "labels": self.labels, "params": self.params, **asdict(self.record)}


@dataclass(frozen=True)
class SeedMetrics:
    """A training job's metrics file for one seed: provenance and one run per condition."""

    seed: int
    data_file: str
    pretrained_from: str | None
    provenance: dict
    runs: list[Run]

    def write(self, path: str | os.PathLike) -> None:
        """Write the metrics file atomically (`dpharm.io.write_json`: inf becomes the string 'inf')."""
        write_json(
            path,
            {
                "seed": self.seed,
                "data_file": self.data_file,
                "pretrained_from": self.pretrained_from,
                "provenance": self.provenance,
                "runs": [run.to_json() for run in self.runs],
            },
        )

    @classmethod
    def read(cls, path: str | os.PathLike) -> SeedMetrics:
        """Read a file that `write` made; any other content raises CorruptFileError naming `path`."""
        raw = read_json(path)
        try:
            runs = [
                Run(entry["condition"], entry["labels"], entry["params"], TrainingRecord.from_json(entry))
                for entry in raw["runs"]
            ]
            return cls(raw["seed"], raw["data_file"], raw["pretrained_from"], raw["provenance"], runs)
        except (KeyError, TypeError, ValueError) as err:
            raise unusable_intermediate(path, f"not a metrics file of this pipeline ({err!r})") from err

    def record(self, condition: str, path: str | os.PathLike) -> TrainingRecord:
        """The record of `condition`; `path` names the file in the error if it is absent or if
        the run spent more privacy than its target (no training of this pipeline does). Whether
        the epsilon is what the record's own noise gives is `privacy.verified_epsilon`'s check."""
        for run in self.runs:
            if run.condition == condition:
                return _within_budget(run.record, path)
        raise unusable_intermediate(path, f"no record of condition {condition!r}")


def _within_budget(record: TrainingRecord, path) -> TrainingRecord:
    overspent = record.private and not record.epsilon_spent <= record.epsilon_target
    if overspent or (not record.private and record.epsilon_spent != float("inf")):
        raise unusable_intermediate(
            path,
            f"epsilon spent {record.epsilon_spent:g} does not fit the target {record.epsilon_target:g} "
            f"({'private' if record.private else 'non-private'} run)",
        )
    return record


@dataclass(frozen=True)
class SeedFiles:
    """The files of one seed of a training job: its dataset, the pre-trained start (or None),
    the checkpoint, the metrics file, and the parsed image source the dataset indexes (None for
    synthetic data)."""

    seed: int
    dataset: str
    pretrained: str | None
    model: str
    metrics: str
    raw_images: str | None = None

    @classmethod
    def per_seed(
        cls,
        seeds: list[int],
        *,
        dataset: list[str],
        model: list[str],
        metrics: list[str],
        pretrained: list[str] | None = None,
        raw_images: str | None = None,
    ) -> list[SeedFiles]:
        """Zip Snakemake's per-seed file lists (all in seed order) into one record per seed."""
        starts = pretrained or [None] * len(seeds)
        return [cls(*files, raw_images) for files in zip(seeds, dataset, starts, model, metrics, strict=True)]
