"""Snakemake adapter: rule synthetic_data -> dpharm.jobs.make_synthetic_data."""

from dpharm.jobs import logging_to, make_synthetic_data

with logging_to(snakemake.log[0]):
    make_synthetic_data(list(snakemake.output), snakemake.params.data, snakemake.params.seeds)
