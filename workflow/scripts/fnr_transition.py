"""Snakemake adapter: rule fnr_transition -> dpharm.jobs.report.fnr_transition."""

from dpharm.jobs import logging_to
from dpharm.jobs.report import fnr_transition

with logging_to(snakemake.log[0]):
    fnr_transition(list(snakemake.input), snakemake.output.table, snakemake.output.agreement)
