"""Snakemake adapter: rule privacy_audit -> dpharm.jobs.audit.privacy_audit."""

from dpharm.jobs import logging_to
from dpharm.jobs.audit import privacy_audit

with logging_to(snakemake.log[0]):
    privacy_audit(snakemake.output[0], snakemake.params.audit, progress=snakemake.config["progress"])
