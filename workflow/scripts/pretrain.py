"""Snakemake adapter: rule pretrain -> dpharm.jobs.pretrain.pretrain."""

from dpharm.jobs import logging_to
from dpharm.jobs.pretrain import pretrain

with logging_to(snakemake.log[0]):
    pretrain(
        list(snakemake.input.data),
        list(snakemake.output),
        snakemake.params.condition,
        snakemake.params.seeds,
        threads=snakemake.threads,
        device=snakemake.config["device"],
        progress=snakemake.config["progress"],
        raw_images=next(iter(snakemake.input.raw_images), None),
    )
