# Lookups from wildcards to the plan's conditions, shared by every stage.


def condition_of(wildcards):
    return PLAN.conditions[(wildcards.experiment, wildcards.condition)]


def data_condition_of(wildcards):
    return PLAN.data[(wildcards.experiment, wildcards.data_id)]


def pretrain_condition_of(wildcards):
    return PLAN.pretrain[(wildcards.experiment, wildcards.pretrain_id)]
