"""Snakemake adapter: rule raw_images -> dpharm.jobs.dataset.raw_images."""

from dpharm.jobs import logging_to
from dpharm.jobs.dataset import raw_images

with logging_to(snakemake.log[0]):
    raw_images(
        snakemake.wildcards.source,
        snakemake.output[0],
        snakemake.params.download_folder,
        mirror=snakemake.params.mirror,
        sha256=snakemake.params.sha256,
        local_folder=snakemake.params.local_folder,
    )
