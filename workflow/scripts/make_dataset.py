"""Snakemake adapter: rule dataset -> dpharm.jobs.dataset.make_dataset."""

from dpharm.jobs import logging_to
from dpharm.jobs.dataset import make_dataset

with logging_to(snakemake.log[0]):
    make_dataset(list(snakemake.input), list(snakemake.output), snakemake.params.data, snakemake.params.seeds)
