"""Snakemake adapter: rule train -> dpharm.jobs.train_stack_of_conditions."""

from dpharm.jobs import logging_to, train_stack_of_conditions

with logging_to(snakemake.log[0]):
    train_stack_of_conditions(
        list(snakemake.input.data), list(snakemake.input.pretrained),
        list(snakemake.output.models), list(snakemake.output.metrics),
        snakemake.params.runs, snakemake.params.seeds,
        threads=snakemake.threads, device=snakemake.params.device, progress=snakemake.params.progress,
    )
