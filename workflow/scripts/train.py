"""Snakemake adapter: rule train -> dpharm.jobs.train.train."""

from dpharm.jobs import logging_to
from dpharm.jobs.train import train
from dpharm.training.records import SeedFiles

with logging_to(snakemake.log[0]):
    files = SeedFiles.per_seed(
        snakemake.params.seeds,
        dataset=snakemake.input.data,
        raw_images=next(iter(snakemake.input.raw_images), None),
        model=snakemake.output.models,
        metrics=snakemake.output.metrics,
        pretrained=list(snakemake.input.pretrained),
    )
    train(
        files,
        snakemake.params.conditions,
        threads=snakemake.threads,
        device=snakemake.config["device"],
        progress=snakemake.config["progress"],
        description=f"{snakemake.wildcards.experiment}/{snakemake.wildcards.train_id}",
    )
