"""The README's verdict table is the committed verdicts: a rerun that changes a verdict fails
here until the README says it too."""

import re

import pandas as pd

DATASETS = {"synthetic": "synthetic", "digits": "digits", "fashion-mnist": "fashion_mnist"}
# A column headed "<dataset> (<run>)" shows the claims of that run; any other, results/claims.csv.
RUNS = {"confirmation": "results/confirmation/fashion/claims.csv"}
SHIPPED = "results/claims.csv"


def readme_verdicts(text: str) -> dict[tuple[str, str, str], str]:
    """(claims file, claim, dataset) -> verdict of the README's table whose header starts with
    '| claim |'; a cell may add words in parentheses after its verdict."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| claim |"))
    header = [
        re.match(r"([^(]+?)(?: \((\w+).*\))?$", cell.strip()).groups() for cell in lines[start].strip("|").split("|")
    ]
    assert {run for _, run in header[1:]} <= {None, "pilot", *RUNS}, f"a column names an unknown run: {header}"
    columns = [(RUNS.get(run, SHIPPED), DATASETS[name.lower()]) for name, run in header[1:]]
    cells = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        row = [cell.strip() for cell in line.strip("|").split("|")]
        claim = re.match(r"(C\d|fair|privacy)", row[0]).group(1)
        for (source, dataset), cell in zip(columns, row[1:], strict=True):
            if cell != "-":
                cells[(source, claim, dataset)] = cell.split(" (")[0].strip("*")
    return cells


def test_the_readme_verdict_table_is_the_committed_verdicts(repo):
    shown = readme_verdicts((repo / "README.md").read_text())
    for source in {source for source, _, _ in shown}:
        committed = {}
        for row in pd.read_csv(repo / source).itertuples():
            committed.setdefault((source, row.claim, row.dataset), set()).add(row.verdict)
        assert {key for key in shown if key[0] == source} == set(committed), f"the README and {source} differ"
        for key in (key for key in shown if key[0] == source):
            assert committed.get(key) == {shown[key]}, (
                f"README says {key} is {shown[key]}; {source}: {committed.get(key)}"
            )


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


NUMBER = r"[-+]?\d+(?:\.\d+)?"


def _close(shown: str, values: pd.Series) -> pd.Series:
    """Whether each value rounds to `shown` at the number of decimals written."""
    decimals = len(shown.partition(".")[2])
    return (values - float(shown)).abs() <= 0.5 * 10**-decimals + 1e-9


def test_every_effect_and_interval_the_readme_states_is_a_committed_test(repo):
    """The conclusion is prose, but each 'effect [low, high]' it quotes is one committed test's
    (any run's claim_tests.csv), as written or with the sign turned for 'less'."""
    tests = pd.concat(pd.read_csv(path) for path in repo.glob("results/**/claim_tests.csv") if "runs" not in path.parts)
    quoted = re.findall(rf"({NUMBER}) \[({NUMBER}), ({NUMBER})\]", (repo / "README.md").read_text())
    assert quoted, "the README quotes no interval: this test checks nothing"
    for effect, low, high in quoted:
        as_written = _close(effect, tests.effect) & _close(low, tests.ci_low) & _close(high, tests.ci_high)
        turned = _close(effect, -tests.effect) & _close(low, -tests.ci_high) & _close(high, -tests.ci_low)
        assert (as_written | turned).any(), f"README: {effect} [{low}, {high}] is no committed test's"
