"""Snakemake adapter: rule figure -> dpharm.jobs.plot_table."""

from dpharm.jobs import logging_to, plot_table

with logging_to(snakemake.log[0]):
    plot_table(snakemake.input[0], snakemake.wildcards.name, snakemake.output.pdf, snakemake.output.png)
