"""Snakemake adapter: rule figure -> dpharm.jobs.plot_experiment."""

from dpharm.jobs import logging_to, plot_experiment

with logging_to(snakemake.log[0]):
    plot_experiment(snakemake.input[0], snakemake.wildcards.experiment, snakemake.output.pdf, snakemake.output.png)
