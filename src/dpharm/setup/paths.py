"""Every file the workflow reads or writes, as one template each.

The rules (`workflow/rules/*.smk`) and the Python code (`dpharm.setup.plan`, the tests) both build
their paths from these templates, so a layout change is made here once. Fields in braces are
Snakemake wildcards; `fill` substitutes them in Python.
"""

from __future__ import annotations

from pathlib import Path

# Stage 1: parsed image sources, and the per-seed train / test / public sets.
RAW_IMAGES = "results/raw/{source}.npz"
DOWNLOADS = "results/raw/{source}"
DATASET = "results/data/{experiment}/{data_id}/seed{seed}.npz"
# Stage 2: non-private pre-training on the public set.
PRETRAINED = "results/pretrained/{experiment}/{pretrain_id}/seed{seed}.pt"
# Stage 3 and 4: one training job and one evaluation job per `train_id` (conditions that differ
# only in epsilon); per seed, one checkpoint and one metrics file for all its conditions.
MODEL = "results/runs/{experiment}/{train_id}/seed{seed}/model.pt"
METRICS = "results/runs/{experiment}/{train_id}/seed{seed}/metrics.json"
EVALUATION = "results/runs/{experiment}/{train_id}/evaluation.csv"
# Stage 5: tables, verdicts, figures, provenance.
TABLE = "results/tables/{name}.csv"
CLAIM_TESTS = "results/tables/claim_tests.csv"
FNR_AGREEMENT = "results/tables/fnr_agreement.csv"
CLAIMS = "results/claims.csv"
CLAIMS_MARKDOWN = "results/claims.md"
CLAIMS_HTML = "results/claims.html"
FIGURE_PDF = "results/figures/{name}.pdf"
FIGURE_PNG = "results/figures/{name}.png"
# the conclusion at a glance, drawn from CLAIM_TESTS
VERDICT_MATRIX_PDF = "results/figures/verdict_matrix.pdf"
VERDICT_MATRIX_PNG = "results/figures/verdict_matrix.png"
FOREST_PDF = "results/figures/forest.pdf"
FOREST_PNG = "results/figures/forest.png"
# a confirmatory run of some datasets on fresh seeds, committed beside the tables it confirms:
# the verdict matrix gives each its own columns
CONFIRMATION_TESTS = "results/confirmation/{name}/claim_tests.csv"
# every verdict file but CLAIM_TESTS (a table): what the claims stage adds to a run's targets
VERDICTS = [CLAIMS, CLAIMS_MARKDOWN, CLAIMS_HTML, VERDICT_MATRIX_PDF, VERDICT_MATRIX_PNG, FOREST_PDF, FOREST_PNG]
# Each configuration's provenance record: config.yaml alone (with or without --config) writes
# results/provenance.json; under an overlay (--configfile config/fashion_mnist.yaml) it writes
# results/provenance.fashion_mnist.json, so one configuration's run never overwrites another's.
PROVENANCE = "results/provenance{configuration}.json"
# with `from_tables`: the committed provenance of each configuration, copied for the HTML report
TABLES_PROVENANCE = "results/logs/provenance_of_the_tables{configuration}.json"


def configuration_suffix(config_files: list[str], default: str) -> str:
    """'' for the default config file alone, else '.' + the overlays' names joined by '+'
    (config/fashion_mnist.yaml -> '.fashion_mnist'), for PROVENANCE's `{configuration}`."""
    overlays = [Path(path).stem for path in config_files if Path(path).resolve() != Path(default).resolve()]
    return "." + "+".join(overlays) if overlays else ""


def provenance_records(folder: str) -> list[tuple[str, str]]:
    """(path, `{configuration}`) of every configuration's provenance record in `folder`, by name."""
    prefix, suffix = Path(PROVENANCE).name.split("{configuration}")
    found = sorted(Path(folder).glob(f"{prefix}*{suffix}"))
    return [(str(path), path.name[len(prefix) : -len(suffix)]) for path in found]


# One log per job.
RAW_IMAGES_LOG = "results/logs/raw/{source}.log"
DATASET_LOG = "results/logs/data/{experiment}/{data_id}.log"
PRETRAIN_LOG = "results/logs/pretrain/{experiment}/{pretrain_id}.log"
TRAIN_LOG = "results/logs/train/{experiment}/{train_id}.log"
EVALUATE_LOG = "results/logs/evaluate/{experiment}/{train_id}.log"
AGGREGATE_LOG = "results/logs/aggregate/{name}.log"
CLAIMS_LOG = "results/logs/claims.log"
VERDICTS_LOG = "results/logs/verdicts.log"
FIGURE_LOG = "results/logs/figure/{name}.log"
PRIVACY_AUDIT_LOG = "results/logs/privacy_audit.log"
PROVENANCE_LOG = "results/logs/provenance.log"


def fill(template: str, **fields) -> str:
    """The path of `template` with every wildcard given."""
    return template.format(**fields)
