"""Snakemake adapter: rule provenance -> dpharm.jobs.provenance.provenance."""

from dpharm.jobs import logging_to
from dpharm.jobs.provenance import provenance

with logging_to(snakemake.log[0]):
    provenance(
        snakemake.output[0],
        snakemake.params.config_hash,
        snakemake.params.git,
        snakemake.config,
        {
            "config_files": snakemake.params.config_files,
            "tables_made": snakemake.params.tables_made,
            "tables_carried_over": snakemake.params.tables_carried_over,
        },
    )
