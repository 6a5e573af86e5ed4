"""Snakemake adapter: rule train -> dpharm.jobs.train_condition."""

from dpharm.jobs import logging_to, train_condition

with logging_to(snakemake.log[0]):
    train_condition(
        list(snakemake.input.data), list(snakemake.input.pretrained),
        list(snakemake.output.models), list(snakemake.output.metrics),
        snakemake.params.run, snakemake.params.labels, snakemake.params.seeds,
        threads=snakemake.threads, device=snakemake.params.device, progress=snakemake.params.progress,
    )
