# With --use-conda every rule runs in this environment (relative to workflow/rules/); its
# post-deploy script installs this package, which the scripts import.
CONDA_ENV = "../envs/dpharm.yaml"


# Lookups from wildcards to the plan's conditions, shared by every stage.


def condition_of(wildcards):
    return PLAN.conditions[(wildcards.experiment, wildcards.condition)]


def data_condition_of(wildcards):
    return PLAN.data[(wildcards.experiment, wildcards.data_id)]


def pretrain_condition_of(wildcards):
    return PLAN.pretrain[(wildcards.experiment, wildcards.pretrain_id)]


def pretrained_inputs(wildcards):
    condition = condition_of(wildcards)
    if not condition.uses_pretraining:
        return []
    return PLAN.pretrained_files(wildcards.experiment, condition.pretrain_id)


def raw_images_input(wildcards):
    source = data_condition_of(wildcards).params["data"]["source"]
    return [] if source == "synthetic" else [f"results/raw/{source}.npz"]
