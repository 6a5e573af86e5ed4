"""How much memory and time each job of a plan needs, estimated from the configuration alone,
so that a run too large for the machine is refused before its first job.

The estimates count the large tensors of each stage (data, padded batches, activations, Gram
matrices, weights and optimizer state) at float32, and the floating-point operations of its
products at a rate of one CPU core. They are rough upper figures, meant to tell a run that
fits from one that needs hundreds of GB or years, not to plan a cluster's queue.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from dpharm.setup.plan import Condition, Plan

FLOAT = 4  # bytes of a float32
BASE_MEMORY = 1e9  # the interpreter, torch and Opacus of any job
# Flop rate of one CPU core on this model's batched products (measured roughly from the
# Fashion-MNIST training jobs: 1e13 flop in about 8 minutes). A GPU is much faster.
FLOPS_PER_SECOND = 2e10
# Train and test counts, image side and channels of each image source (for digits, the upper
# bound of its 1,797 images on either side of its split).
IMAGE_SOURCES = {
    "digits": (1797, 1797, 8, 1),
    "mnist": (60000, 10000, 28, 1),
    "fashion_mnist": (60000, 10000, 28, 1),
    "cifar10": (50000, 10000, 32, 3),
}


@dataclass(frozen=True)
class Shape:
    """Sizes of one condition's data: examples per split, patches per example, patch length."""

    n_train: int
    n_test: int
    n_public: int
    patches: int
    dimension: int
    classes: int

    @property
    def examples(self) -> int:
        return self.n_train + self.n_test + self.n_public


@dataclass(frozen=True)
class JobEstimate:
    """A job's estimated peak memory (bytes) and time (seconds on one CPU core)."""

    job: str
    memory: float
    seconds: float


def data_shape(params: dict) -> Shape:
    """The sizes of a condition's data, from its settings (image counts: their upper bound)."""
    data = params["data"]
    if data["source"] == "synthetic":
        groups = data["num_classes"] * (2 if data["tail_frequency"] > 0 else 1)
        return Shape(
            data["n_train"],
            data["n_test_per_group"] * groups,
            data["n_public"],
            data["patches"],
            data["dimension"],
            data["num_classes"],
        )
    n_train, n_test, side, channels = IMAGE_SOURCES[data["source"]]
    per_side = side // data["patch_size"]
    return Shape(n_train, n_test, n_train, per_side**2, data["patch_size"] ** 2 * channels, len(data["classes"]))


def _stack_cost(shape: Shape, width: int, models: int, steps: int, batch_size: int, views: int) -> tuple[float, float]:
    """(bytes, flop) of training `models` models together: the padded batch and its patch Gram
    matrices, the pre-activations with their masks and gradients, weights with gradient, noise
    and optimizer state; flop of the forward product, the weight gradient and the norms."""
    batch = min(batch_size, shape.n_train)
    batch += 4 * math.sqrt(batch)  # a Poisson draw above its mean, padded for every model
    tokens = views * shape.patches
    filters = shape.classes * width
    memory = models * (batch * tokens * (shape.dimension + tokens + 4 * filters) + 6 * filters * shape.dimension)
    flop = steps * models * batch * tokens * (6 * filters * shape.dimension + tokens * (filters + shape.dimension))
    return FLOAT * memory, flop


def training_estimate(conditions: list[Condition], seeds: int) -> JobEstimate:
    """One training job: every seed of its conditions (they differ only in epsilon); the private
    and the non-private models train as two stacks, one after the other."""
    params = conditions[0].params
    shape, training, width = data_shape(params), params["training"], params["model"]["width"]
    private = seeds * sum(math.isfinite(c.params["training"]["epsilon"]) for c in conditions)
    stacks = [
        _stack_cost(
            shape, width, models, training["steps"], training["batch_size"], training["augmentation_multiplicity"]
        )
        for models in (private, seeds * len(conditions) - private)
    ]
    memory = max(stack_memory for stack_memory, _ in stacks)
    if training["grad_sample_mode"] != "fast":  # Opacus materialises per-example gradients
        memory += FLOAT * 2 * min(training["batch_size"], shape.n_train) * shape.classes * width * shape.dimension
    data = FLOAT * seeds * shape.examples * shape.patches * (shape.dimension + shape.patches)
    job = f"train {conditions[0].experiment}/{conditions[0].train_id}"
    return JobEstimate(job, BASE_MEMORY + data + memory, sum(flop for _, flop in stacks) / FLOPS_PER_SECOND)


def evaluation_estimate(conditions: list[Condition], seeds: int) -> JobEstimate:
    """One evaluation job: every model of a training job on the test set, once clean and once per
    attack budget at `pgd_steps` gradient steps."""
    params = conditions[0].params
    shape = data_shape(params)
    evaluation = params["evaluation"]
    passes = 1 + (len(evaluation["attack_radii"]) + len(evaluation["linf_radii"])) * (1 + evaluation["pgd_steps"])
    filters = shape.classes * params["model"]["width"]
    test_set = shape.n_test * shape.patches * (shape.dimension + 4 * filters)
    flop = seeds * len(conditions) * passes * 6 * shape.n_test * shape.patches * filters * shape.dimension
    data = seeds * shape.examples * shape.patches * shape.dimension
    job = f"evaluate {conditions[0].experiment}/{conditions[0].train_id}"
    return JobEstimate(job, BASE_MEMORY + FLOAT * (4 * test_set + data), flop / FLOPS_PER_SECOND)


def dataset_estimate(condition: Condition) -> JobEstimate:
    """One data set file: synthetic examples are drawn in float64 and stored in float32; image
    splits index the parsed source."""
    shape = data_shape(condition.params)
    per_value = 3 * 8 if condition.params["data"]["source"] == "synthetic" else FLOAT
    memory = per_value * shape.examples * shape.patches * shape.dimension
    return JobEstimate(f"dataset {condition.experiment}/{condition.data_id}", BASE_MEMORY + memory, 0.0)


def pretraining_estimate(condition: Condition) -> JobEstimate:
    """One seed's public pre-training: plain SGD of one model on the public split."""
    shape = data_shape(condition.params)
    pretraining = condition.params["pretraining"]
    memory, flop = _stack_cost(
        shape, condition.params["model"]["width"], 1, pretraining["steps"], pretraining["batch_size"], 1
    )
    data = FLOAT * shape.examples * shape.patches * shape.dimension
    return JobEstimate(
        f"pretrain {condition.experiment}/{condition.pretrain_id}", BASE_MEMORY + data + memory, flop / FLOPS_PER_SECOND
    )


# Seconds of Opacus's per-step overhead in one audit trial (a tiny model: overhead dominates).
AUDIT_STEP_SECONDS = 5e-3


def audit_estimate(audit: dict) -> JobEstimate:
    """The privacy audit: per mechanism, `trials` trainings with and without the canary."""
    trainings = 2 * audit["trials"] * len(audit["mechanisms"])
    parameters = 2 * audit["width"] * audit["dimension"]
    step_flop = 6 * audit["n_train"] * 2 * parameters
    seconds = trainings * audit["steps"] * (AUDIT_STEP_SECONDS + step_flop / FLOPS_PER_SECOND)
    memory = FLOAT * (audit["n_train"] * 2 * audit["dimension"] + audit["n_train"] * parameters + 6 * parameters)
    return JobEstimate("privacy_audit", BASE_MEMORY + memory, seconds)


def plan_estimates(plan: Plan, audit: dict | None = None) -> list[JobEstimate]:
    """An estimate for every data, pre-training, training and evaluation job of the plan, and for
    the privacy audit when `audit` (its config section) is given and enabled."""
    seeds = len(plan.seeds)
    estimates = [audit_estimate(audit)] if audit is not None and audit["enabled"] else []
    estimates += [dataset_estimate(c) for c in plan.data.values()]
    estimates += [pretraining_estimate(c) for c in plan.pretrain.values()]
    for conditions in plan.train_jobs.values():
        estimates += [training_estimate(conditions, seeds), evaluation_estimate(conditions, seeds)]
    return estimates


def machine_memory() -> float:
    """Physical memory of this machine, in bytes."""
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def budget_errors(config: dict) -> list[str]:
    """A message for each job of a valid config whose estimate exceeds its `limits` section (the
    first ten, then a count)."""
    limits = config["limits"]
    memory_cap = machine_memory() if limits["memory_gb"] is None else limits["memory_gb"] * 1e9
    source = "this machine's memory" if limits["memory_gb"] is None else "limits.memory_gb"
    errors = []
    for estimate in plan_estimates(Plan(config), config["privacy_audit"]):
        if estimate.memory > memory_cap:
            errors.append(
                f"{estimate.job}: needs about {estimate.memory / 1e9:.3g} GB of memory, "
                f"above {memory_cap / 1e9:.3g} GB ({source}; on a larger machine raise config key 'limits.memory_gb')"
            )
        if estimate.seconds > limits["job_hours"] * 3600:
            errors.append(
                f"{estimate.job}: needs about {estimate.seconds / 3600:.3g} hours on one CPU core, above "
                f"{limits['job_hours']:g} (config key 'limits.job_hours'; raise it to run it anyway)"
            )
    shown = 10  # one line per job would bury the config's other problems
    if len(errors) > shown:
        errors = [*errors[:shown], f"... and {len(errors) - shown} more over the limits"]
    return errors


@dataclass(frozen=True)
class Request:
    """What a job asks a cluster scheduler for: memory in MB and wall time in minutes (the
    `mem_mb` and `runtime` resources the SLURM executor turns into sbatch --mem and -t)."""

    mem_mb: int
    runtime: int


# Jobs with no estimate of their own: a table, a figure, the verdicts or the provenance file
# (pandas and matplotlib on small tables), and reading an image source, whose download from a
# mirror dominates its time.
LIGHT_JOB = Request(mem_mb=2000, runtime=15)
RAW_IMAGES_JOB = Request(mem_mb=4000, runtime=60)
# A request covers its estimate twice over (the estimates are rough: up to 2x off on training),
# never less than a light job, and adds minutes for starting Python, torch and the file system.
REQUEST_MARGIN, STARTUP_MINUTES = 2.0, 10


def request(estimate: JobEstimate, repeats: int = 1) -> Request:
    """The scheduler request of a job that runs `estimate` `repeats` times (e.g. once per seed)."""
    mem_mb = math.ceil(REQUEST_MARGIN * estimate.memory / 1e6)
    minutes = math.ceil(REQUEST_MARGIN * repeats * estimate.seconds / 60) + STARTUP_MINUTES
    return Request(max(mem_mb, LIGHT_JOB.mem_mb), max(minutes, LIGHT_JOB.runtime))
