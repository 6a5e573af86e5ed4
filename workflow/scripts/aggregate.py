"""Snakemake adapter: rule aggregate -> dpharm.jobs.aggregate_experiment."""

from dpharm.jobs import aggregate_experiment, logging_to

with logging_to(snakemake.log[0]):
    aggregate_experiment(list(snakemake.input), snakemake.output[0], snakemake.params.label_columns)
