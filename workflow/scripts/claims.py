"""Snakemake adapter: rule claims -> dpharm.jobs.claims.judge_claims."""

from dpharm.jobs import logging_to
from dpharm.jobs.claims import judge_claims

with logging_to(snakemake.log[0]):
    judge_claims(
        list(snakemake.input),
        snakemake.output.claims,
        snakemake.output.markdown,
        snakemake.output.tests,
        snakemake.params.settings,
        snakemake.params.committed,
        snakemake.params.plans,
    )
