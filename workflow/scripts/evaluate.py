"""Snakemake adapter: rule evaluate -> dpharm.jobs.evaluate_condition."""

from dpharm.jobs import evaluate_condition, logging_to

with logging_to(snakemake.log[0]):
    evaluate_condition(
        list(snakemake.input.data), list(snakemake.input.models), list(snakemake.input.metrics),
        snakemake.output[0], snakemake.params.run, snakemake.wildcards.experiment,
        snakemake.wildcards.condition, snakemake.params.labels, snakemake.params.seeds,
        threads=snakemake.threads,
    )
