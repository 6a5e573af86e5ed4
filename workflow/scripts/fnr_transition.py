"""Snakemake adapter: rule fnr_transition -> dpharm.jobs.fnr_transition_table."""

from dpharm.jobs import fnr_transition_table, logging_to

with logging_to(snakemake.log[0]):
    fnr_transition_table(list(snakemake.input), snakemake.output[0])
