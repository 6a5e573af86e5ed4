# With --use-conda every rule runs in this environment (relative to workflow/rules/); its
# post-deploy script installs this package, which the scripts import.
CONDA_ENV = "../envs/dpharm.yaml"


# `device` and `progress` reach the training scripts through snakemake.config, not params: they
# change how a job runs, not what it computes, so changing them must not rerun anything.

# Input functions and lookups from wildcards to the plan, shared by every stage. Every path
# template comes from dpharm.setup.paths.


def get_train_job(wildcards):
    """The conditions one training (and evaluation) job covers: one grid point, every epsilon."""
    return PLAN.train_jobs[(wildcards.experiment, wildcards.train_id)]


def get_conditions(wildcards):
    return [
        {"id": c.id, "params": c.params, "labels": c.labels}
        for c in get_train_job(wildcards)
    ]


def get_dataset_condition(wildcards):
    return PLAN.data[(wildcards.experiment, wildcards.data_id)]


def get_pretrain_condition(wildcards):
    return PLAN.pretrain[(wildcards.experiment, wildcards.pretrain_id)]


def get_train_datasets(wildcards):
    """A training job's conditions share data and pre-training: the first one names both."""
    return PLAN.data_files(wildcards.experiment, get_train_job(wildcards)[0].data_id)


def get_pretrained_starts(wildcards):
    condition = get_train_job(wildcards)[0]
    if not condition.uses_pretraining:
        return []
    return PLAN.pretrained_files(wildcards.experiment, condition.pretrain_id)


def get_pretrain_datasets(wildcards):
    condition = get_pretrain_condition(wildcards)
    return PLAN.data_files(wildcards.experiment, condition.data_id)


def raw_images_of(condition):
    """The parsed image source a condition's dataset files index; none for synthetic data."""
    source = condition.params["data"]["source"]
    return (
        [] if source == "synthetic" else [paths.fill(paths.RAW_IMAGES, source=source)]
    )


def get_raw_images(wildcards):
    return raw_images_of(get_dataset_condition(wildcards))


def get_train_raw_images(wildcards):
    return raw_images_of(get_train_job(wildcards)[0])


def get_pretrain_raw_images(wildcards):
    return raw_images_of(get_pretrain_condition(wildcards))


def get_committed_tables():
    """Tables this run does not rebuild (their experiment, the pooled FNR table or the audit is
    switched off, or `from_tables` rebuilds none): their committed copies, where present, still
    enter the claims, so that config/fashion_mnist.yaml rebuilds only the Fashion-MNIST rows of
    results/claims.csv.
    """
    built = set() if config["from_tables"] else set(PLAN.table_files())
    every = [paths.fill(paths.TABLE, name=name) for name in REGISTRY]
    return [path for path in every if path not in built and os.path.exists(path)]


def get_table_plans():
    """Condition ids each enabled experiment's table must hold, rebuilt or committed. A table of
    an experiment this configuration switches off was made by another configuration (e.g.
    config/fashion_mnist.yaml, its own seeds): it is read strictly but not held to this plan.
    """
    return {
        paths.fill(paths.TABLE, name=name): planned_conditions(config, name)
        for name, block in config["experiments"].items()
        if block["enabled"]
    }


def get_claims_tables():
    return (
        [] if config["from_tables"] else PLAN.table_files()
    ) + get_committed_tables()


# The figures this run draws: of its own tables, or with `from_tables` of every committed one.
FIGURE_NAMES = (
    [os.path.basename(path).removesuffix(".csv") for path in get_committed_tables()]
    if config["from_tables"]
    else PLAN.figure_names()
)


def get_final_targets():
    """Every tracked result of the run; with `from_tables`, the figures and the verdicts only
    (and the committed provenance of the tables, for the report)."""
    if not config["from_tables"]:
        return PLAN.final_targets() + [PROVENANCE]
    figures = [
        paths.fill(template, name=name)
        for name in FIGURE_NAMES
        for template in (paths.FIGURE_PDF, paths.FIGURE_PNG)
    ]
    verdicts = [*paths.VERDICTS, paths.CLAIM_TESTS]
    # the committed provenance of every configuration, for the report (a fresh clone may lack it)
    return figures + verdicts + [copy for _, copy in COMMITTED_PROVENANCE]


# (record, its copy for the report) of every configuration's provenance in results/
COMMITTED_PROVENANCE = [
    (record, paths.fill(paths.TABLES_PROVENANCE, configuration=suffix))
    for record, suffix in paths.provenance_records("results")
]


# Each job's memory and wall time for a cluster scheduler (`mem_mb`, `runtime`), from the
# estimates of dpharm.setup.budget, so that no profile holds per-rule numbers.
JOB_ESTIMATES = {
    "dataset": lambda w: (budget.dataset_estimate(get_dataset_condition(w)), 1),
    "pretrain": lambda w: (
        budget.pretraining_estimate(get_pretrain_condition(w)),
        len(SEEDS),
    ),
    "train": lambda w: (budget.training_estimate(get_train_job(w), len(SEEDS)), 1),
    "evaluate": lambda w: (budget.evaluation_estimate(get_train_job(w), len(SEEDS)), 1),
    "privacy_audit": lambda w: (budget.audit_estimate(config["privacy_audit"]), 1),
}


def job_request(stage):
    """A function of a job's wildcards giving its dpharm.setup.budget.Request."""
    return lambda wildcards: budget.request(*JOB_ESTIMATES[stage](wildcards))


def job_mem_mb(stage):
    return lambda wildcards: job_request(stage)(wildcards).mem_mb


def job_runtime(stage):
    return lambda wildcards: job_request(stage)(wildcards).runtime
