# Reproduction of "Differential Privacy in Two-Layer Networks" (Xu & Chen, 2026).
# Chain: data -> public pre-training -> (DP-)training -> evaluation -> tables -> figures.
# All logic lives in the `dpharm` package; rules only wire files and parameters.

import os
import shutil
import sys

from snakemake.utils import min_version

from dpharm.setup import budget, paths
from dpharm.setup.committed import (
    changed_configurations,
    check_tables_present,
    confirmation_tests,
)
from dpharm.setup.config import check_config_files, config_hash
from dpharm.setup.validation import validate_config
from dpharm.io import remove_unfinished_files
from dpharm.setup.plan import Plan, planned_conditions
from dpharm.experiments import REGISTRY, caption
from dpharm.setup.provenance import git_state
from dpharm.setup.runtime import gpus_per_training_job, pin_kernels

min_version("9.20")

# Every job starts with torch, MKL, OpenBLAS and numpy on the same CPU code paths, whatever the
# machine (dpharm.setup.runtime.KERNEL_PINS): the same config and seed give the same bytes.
pin_kernels()


# absolute: the `workdir:` below changes the folder relative paths start from
configfile: os.path.join(workflow.basedir, "config.yaml")


report: "workflow/report/workflow.rst"


# Validate every config file and the merged config (config.yaml, --configfile, --config) before any job runs.
check_config_files(workflow.configfiles)
validate_config(config)


# Every path below is relative to the results' working folder: "." for the shipped results,
# another for configurations whose results must not replace them (config/small.yaml). Absolute,
# from the repository: a cluster job starts in the working folder and reads this line again.
workdir: os.path.join(workflow.basedir, config["workdir"])


PLAN = Plan(config)
# this configuration's provenance record (results/provenance.json for config.yaml alone)
PROVENANCE = paths.fill(
    paths.PROVENANCE,
    configuration=paths.configuration_suffix(
        workflow.configfiles, os.path.join(workflow.basedir, "config.yaml")
    ),
)
if PLAN.pooled_fnr_left_out():
    print(
        "note: results/tables/fnr_transition.csv pools every synthetic experiment; with config keys "
        + ", ".join(f"experiments.{n}.enabled" for n in PLAN.pooled_fnr_left_out())
        + " false, this run does not rebuild it (its existing copy enters the claims)",
        file=sys.stderr,
    )
# Another configuration's tables are carried over into the verdicts: say so if it has changed since.
for note in changed_configurations("results", workflow.basedir, PROVENANCE):
    print(f"note: {note}", file=sys.stderr)
# from_tables redraws from committed tables: a missing one must stop the run, not drop its claims.
if config["from_tables"]:
    check_tables_present(PLAN.table_files(), os.getcwd())
SEEDS = PLAN.seeds
# 1 on a CUDA machine (the profile's gpu=1 limit: one training job per GPU), else 0 (side by side).
TRAINING_GPUS = gpus_per_training_job(config["device"])


wildcard_constraints:
    experiment="[a-z_]+",
    train_id="[^/]+",
    data_id="[^/]+",
    pretrain_id="[^/]+",


onstart:
    # a job killed mid-write (SIGKILL) leaves a hidden temporary file; nothing else owns it now
    remove_unfinished_files("results")


include: "workflow/rules/common.smk"


# from_tables: figures and verdicts from the committed tables alone; no rule makes a table.
if not config["from_tables"]:

    include: "workflow/rules/data.smk"
    include: "workflow/rules/pretrain.smk"
    include: "workflow/rules/train.smk"
    include: "workflow/rules/evaluate.smk"
    include: "workflow/rules/audit.smk"
    include: "workflow/rules/tables.smk"


include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_targets(),
