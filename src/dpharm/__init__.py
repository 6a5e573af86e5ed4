"""Reproduction pipeline for "Differential Privacy in Two-Layer Networks" (Xu & Chen, 2026).

The package holds all logic; `workflow/scripts/` only adapt Snakemake's inputs to it.
"""

__version__ = "0.1.0"
