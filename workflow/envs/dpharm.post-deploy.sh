#!/usr/bin/env bash
# Snakemake runs this inside the environment it has just created from dpharm.yaml
# (--use-conda): install the workflow's own package, which every rule's script imports. It runs
# in the workflow's working directory, the repository root.
set -euo pipefail
python -m pip install --no-deps -e .
