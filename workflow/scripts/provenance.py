"""Snakemake adapter: rule provenance -> dpharm.jobs.write_provenance."""

from dpharm.jobs import logging_to, write_provenance

with logging_to(snakemake.log[0]):
    write_provenance(snakemake.output[0], snakemake.params.config_hash, snakemake.params.git, snakemake.config)
