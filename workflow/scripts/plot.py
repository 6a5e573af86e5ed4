"""Snakemake adapter: rule figure -> dpharm.jobs.figures.figure."""

from dpharm.jobs import logging_to
from dpharm.jobs.figures import figure

with logging_to(snakemake.log[0]):
    figure(
        snakemake.input.table,
        snakemake.wildcards.name,
        snakemake.output.pdf,
        snakemake.output.png,
        snakemake.params.settings,
        snakemake.params.committed,
        snakemake.params.conditions,
    )
