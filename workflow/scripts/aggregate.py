"""Snakemake adapter: rule aggregate -> dpharm.jobs.tables.aggregate."""

from dpharm.jobs import logging_to
from dpharm.jobs.tables import aggregate

with logging_to(snakemake.log[0]):
    aggregate(
        snakemake.params.runs,
        snakemake.params.seeds,
        snakemake.output[0],
        snakemake.params.label_columns,
        snakemake.params.source_labels,
    )
