"""Snakemake adapter: rule evaluate -> dpharm.jobs.evaluate_stack_of_conditions."""

from dpharm.jobs import evaluate_stack_of_conditions, logging_to

with logging_to(snakemake.log[0]):
    evaluate_stack_of_conditions(
        list(snakemake.input.data), list(snakemake.input.models), list(snakemake.input.metrics),
        snakemake.output[0], snakemake.params.runs, snakemake.wildcards.experiment, snakemake.params.seeds,
        threads=snakemake.threads,
    )
