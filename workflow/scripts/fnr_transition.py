"""Snakemake adapter: rule fnr_transition -> dpharm.jobs.tables.fnr_transition."""

from dpharm.jobs import logging_to
from dpharm.jobs.tables import fnr_transition

with logging_to(snakemake.log[0]):
    fnr_transition(list(snakemake.input), snakemake.output.table, snakemake.output.agreement)
