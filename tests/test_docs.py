"""The README's verdict table is the committed verdicts: a rerun that changes a verdict fails
here until the README says it too."""

import re

import pandas as pd

DATASETS = {"synthetic": "synthetic", "digits": "digits", "fashion-mnist": "fashion_mnist"}


def readme_verdicts(text: str) -> dict[tuple[str, str], str]:
    """(claim, dataset) -> verdict of the README's table whose header starts with '| claim |'."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| claim |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    datasets = [DATASETS[cell.split(" (")[0].lower()] for cell in header[1:]]
    cells = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        row = [cell.strip() for cell in line.strip("|").split("|")]
        claim = re.match(r"(C\d|fair|privacy)", row[0]).group(1)
        for dataset, cell in zip(datasets, row[1:], strict=True):
            if cell != "-":
                cells[(claim, dataset)] = cell.strip("*")
    return cells


def test_the_readme_verdict_table_is_the_committed_verdicts(repo):
    claims = pd.read_csv(repo / "results/claims.csv")
    committed = {}
    for row in claims.itertuples():
        committed.setdefault((row.claim, row.dataset), set()).add(row.verdict)
    shown = readme_verdicts((repo / "README.md").read_text())
    assert set(shown) == set(committed), "the README's table and results/claims.csv cover different claims"
    for key, verdict in shown.items():
        assert committed[key] == {verdict}, f"README says {key} is {verdict}; results/claims.csv: {committed[key]}"


def test_the_readme_method_table_is_the_committed_per_method_verdicts(repo):
    from dpharm.experiments.fair_dpsgd import DESIGNS, method_verdicts

    lines = (repo / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| method |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")][1:]
    designs = {"C2": DESIGNS["imbalance"], "C3": DESIGNS["long_tail"]}
    columns = [re.match(r"(.+) (C\d)", cell).groups() for cell in header]  # "Fashion-MNIST C2 (pilot)"
    columns = [(DATASETS[dataset.lower()], designs[claim]) for dataset, claim in columns]
    shown = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        method, *cells = [cell.strip() for cell in line.strip("|").split("|")]
        for (dataset, design), cell in zip(columns, cells, strict=True):
            shown[(dataset, design, method)] = cell.strip("*")
    committed = method_verdicts(pd.read_csv(repo / "results/tables/claim_tests.csv"))
    assert shown == {(r.dataset, r.design, r.method): r.verdict for r in committed.itertuples()}
