# With --use-conda every rule runs in this environment (relative to workflow/rules/); its
# post-deploy script installs this package, which the scripts import.
CONDA_ENV = "../envs/dpharm.yaml"


# Lookups from wildcards to the plan's conditions, shared by every stage.


def stack_of(wildcards):
    return PLAN.stacks[(wildcards.experiment, wildcards.stack)]


def first_condition_of(wildcards):
    """A stack's conditions share data and pre-training: any one of them names both."""
    return stack_of(wildcards)[0]


def stack_runs(wildcards):
    return [
        {"condition": c.id, "params": c.params, "labels": c.labels}
        for c in stack_of(wildcards)
    ]


def data_condition_of(wildcards):
    return PLAN.data[(wildcards.experiment, wildcards.data_id)]


def pretrain_condition_of(wildcards):
    return PLAN.pretrain[(wildcards.experiment, wildcards.pretrain_id)]


def pretrained_inputs(wildcards):
    condition = first_condition_of(wildcards)
    if not condition.uses_pretraining:
        return []
    return PLAN.pretrained_files(wildcards.experiment, condition.pretrain_id)


def raw_images_input(wildcards):
    source = data_condition_of(wildcards).params["data"]["source"]
    return [] if source == "synthetic" else [f"results/raw/{source}.npz"]
