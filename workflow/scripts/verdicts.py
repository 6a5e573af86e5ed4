"""Snakemake adapter: rule verdicts -> dpharm.jobs.claims.verdicts."""

from dpharm.jobs import logging_to
from dpharm.jobs.claims import verdicts

with logging_to(snakemake.log[0]):
    verdicts(
        snakemake.input.tests,
        list(snakemake.input.confirmations),
        (snakemake.output.matrix_pdf, snakemake.output.matrix_png),
        (snakemake.output.forest_pdf, snakemake.output.forest_png),
        snakemake.output.html,
        snakemake.params.confidence,
    )
