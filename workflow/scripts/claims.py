"""Snakemake adapter: rule claims -> dpharm.jobs.judge_claims."""

from dpharm.jobs import judge_claims, logging_to

with logging_to(snakemake.log[0]):
    judge_claims(list(snakemake.input), snakemake.output.claims, snakemake.output.markdown,
                 snakemake.output.tests, snakemake.params.settings)
