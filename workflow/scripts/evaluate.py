"""Snakemake adapter: rule evaluate -> dpharm.jobs.evaluate.evaluate."""

from dpharm.jobs import logging_to
from dpharm.jobs.evaluate import evaluate
from dpharm.training.records import SeedFiles

with logging_to(snakemake.log[0]):
    files = SeedFiles.per_seed(
        snakemake.params.seeds,
        dataset=snakemake.input.data,
        raw_images=next(iter(snakemake.input.raw_images), None),
        model=snakemake.input.models,
        metrics=snakemake.input.metrics,
    )
    evaluate(
        files,
        snakemake.output[0],
        snakemake.params.conditions,
        snakemake.wildcards.experiment,
        threads=snakemake.threads,
        progress=snakemake.config["progress"],
    )
