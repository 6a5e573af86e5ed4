"""Snakemake adapter: rule figure -> dpharm.jobs.report.figure."""

from dpharm.jobs import logging_to
from dpharm.jobs.report import figure

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
