"""The conclusion at a glance: the verdict matrix, the forest plot and the claims page say what
claim_tests.csv says, cell by cell and row by row."""

import math
import re

import matplotlib
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from dpharm.claims.rules import FINDING, INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED
from dpharm.reporting.claims_page import render_html
from dpharm.reporting.verdict_figures import (
    VERDICT_COLOURS,
    claim_order,
    claim_verdicts,
    forest,
    forest_rows,
    unit_of,
    verdict_matrix,
)
from helpers import REPO

matplotlib.use("Agg")


def committed_tests() -> pd.DataFrame:
    return pd.read_csv(REPO / "results" / "tables" / "claim_tests.csv")


def a_test(claim, dataset, name, verdict, effect=1.0, low=0.5, high=1.5, rule="effect", threshold=0.2,
         metric="accuracy points lost under DP") -> dict:  # fmt: skip
    return {"claim": claim, "experiment": "e", "dataset": dataset, "test": name, "statement": f"{name} holds",
            "metric": metric, "rule": rule, "effect": effect, "ci_low": low, "ci_high": high, "n_seeds": 5,
            "min_effect": threshold, "effect_nats": math.nan, "verdict": verdict, "note": math.nan,
            "fw_verdict": verdict}  # fmt: skip


def toy_tests() -> pd.DataFrame:
    return pd.DataFrame([
        a_test("privacy", "synthetic", "audit", REPRODUCED, 0.8, math.nan, math.nan,
               metric="accountant epsilon - lower bound"),
        a_test("C2", "digits", "minority", NOT_TESTABLE, math.nan, math.nan, math.nan),
        a_test("C5", "synthetic", "late", INCONCLUSIVE, 0.1, -1.0, 1.2),
        a_test("C1", "synthetic", "noise", REPRODUCED),
        a_test("C1", "synthetic", "width", FINDING, -5.0, -8.0, -2.0, rule="finding"),
        a_test("fair", "synthetic", "adaptive", NOT_REPRODUCED, -3.0, -4.0, -2.0),
        a_test("C2", "synthetic", "below", REPRODUCED, -1.0, -1.5, -0.5, rule="below", threshold=2.0),
    ])  # fmt: skip


def cell_colours(figure) -> dict[str, list[str]]:
    """The fill colours of the matrix cells, by row (claim) label, left to right."""
    (ax,) = figure.axes
    cells = sorted((p for p in ax.patches if p.get_gid()), key=lambda p: (p.get_y(), p.get_x()))
    colours: dict[str, list[str]] = {}
    for patch in cells:
        colours.setdefault(patch.get_gid(), []).append(to_hex(patch.get_facecolor()))
    return colours


def test_claims_come_in_number_order_then_fair_then_privacy():
    assert claim_order(["privacy", "fair", "C10", "C2", "C1", "other"]) == ["C1", "C2", "C10", "fair", "privacy",
                                                                          "other"]  # fmt: skip


def test_every_matrix_cell_is_coloured_by_its_claims_verdict():
    tests = toy_tests()
    figure = verdict_matrix(tests)
    colours = cell_colours(figure)
    assert list(colours) == ["C1", "C2", "C5", "fair", "privacy"]
    # columns: synthetic, digits; C1's finding takes no part; C2 on the digits is not testable
    assert colours["C1"] == [VERDICT_COLOURS[REPRODUCED], "#ffffff"]
    assert colours["C2"] == [VERDICT_COLOURS[REPRODUCED], VERDICT_COLOURS[NOT_TESTABLE]]
    assert colours["fair"][0] == VERDICT_COLOURS[NOT_REPRODUCED]
    assert colours["C5"][0] == VERDICT_COLOURS[INCONCLUSIVE]
    texts = [t.get_text() for t in figure.axes[0].texts]
    expected = {"noise", "1 [0.5, 1.5]", "minority", "no estimate", "no test", "tests reproduced: 1 of 1, 5 seeds"}
    assert expected <= set(texts)
    # the privacy audit's n_seeds counts one audit, not seeds: its cell names no seeds
    single = verdict_matrix(toy_tests().assign(n_seeds=1))
    assert "tests reproduced: 1 of 1" in {t.get_text() for t in single.axes[0].texts}


def test_a_confirmation_gets_its_own_column_beside_its_pilot():
    confirmation = pd.DataFrame([a_test("C2", "digits", "minority", NOT_REPRODUCED, -1.0, -2.0, -0.5)])
    figure = verdict_matrix(toy_tests(), [confirmation])
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["synthetic", "digits\npilot",
                                                                          "digits\nconfirmation"]  # fmt: skip
    colours = cell_colours(figure)
    assert colours["C2"] == [VERDICT_COLOURS[REPRODUCED], VERDICT_COLOURS[NOT_TESTABLE],
                             VERDICT_COLOURS[NOT_REPRODUCED]]  # fmt: skip
    assert colours["C1"][2] == "#ffffff"  # no test of C1 in the confirmation


def test_the_committed_matrix_agrees_with_claims_csv():
    tests = committed_tests()
    figure = verdict_matrix(tests)
    colours = cell_colours(figure)
    claims = pd.read_csv(REPO / "results" / "claims.csv")
    datasets = ["synthetic", "digits", "fashion_mnist"]
    for row in claims.itertuples():
        assert colours[row.claim][datasets.index(row.dataset)] == VERDICT_COLOURS[row.verdict], row
    assert len(claim_verdicts(tests)) == len(claims)


def test_the_fair_cell_counts_methods_and_shows_a_passing_method_first():
    """The fair claim is judged per method and design (gain and guardrail), so its cell counts
    those verdicts; the method shown is a reproduced one when there is one, never a larger gain
    that fails the guardrail."""
    from dpharm.experiments.fair_dpsgd import method_verdicts

    tests = committed_tests()
    texts = {t.get_text() for t in verdict_matrix(tests).axes[0].texts}
    for dataset, methods in method_verdicts(tests).groupby("dataset"):
        passed = methods[methods["verdict"] == REPRODUCED]
        counted = f"methods x designs reproduced: {len(passed)} of {len(methods)}, {methods['n_seeds'].max()} seeds"
        assert counted in texts, dataset
        shown = (passed if len(passed) else methods).sort_values("gain").iloc[-1]
        assert f"best: {shown['method']}, {shown['design'].split(' (')[0]}" in texts, dataset


def test_the_forest_plot_has_one_row_per_test_in_its_units_panel():
    tests = committed_tests()
    figure = forest(tests)
    labels = [label.get_text() for ax in figure.axes if ax.get_yticklabels() for label in ax.get_yticklabels()]
    rows = forest_rows(tests)
    assert sorted(labels) == sorted(rows["label"]) and len(labels) == len(tests)  # every test, once
    assert unit_of("1 - FNR_DP / FNR_non-private, mean over classes, feature norms and epsilons") != "epsilon"
    units = {ax.get_xlabel() for ax in figure.axes if ax.get_xlabel()}
    assert units == set(rows["unit"])
    marks = [line for ax in figure.axes for line in ax.get_lines() if line.get_gid() in VERDICT_COLOURS]
    assert all(to_hex(line.get_color()) == VERDICT_COLOURS[line.get_gid()] for line in marks)
    assert {line.get_gid() for line in marks} == set(tests.dropna(subset=["effect"])["verdict"])


def test_a_below_threshold_points_left():
    figure = forest(toy_tests())
    triangles = {line.get_marker() for ax in figure.axes for line in ax.get_lines() if line.get_marker() in "<>"}
    assert triangles == {"<", ">"}
    (points,) = [ax for ax in figure.axes if ax.get_xlabel() == "accuracy points"]
    below = [line for line in points.get_lines() if line.get_marker() == "<"]
    assert len(below) == 1 and below[0].get_xdata()[0] == 2.0


def test_the_claims_page_shows_the_matrix_then_the_summary_in_claim_order_with_coloured_rounded_numbers():
    tests = toy_tests().assign(effect=lambda t: t["effect"] * 1.23456)
    page = render_html(tests, 0.95, b"\x89PNG fake")
    assert page.startswith("<!DOCTYPE html>")
    assert page.index("data:image/png;base64,") < page.index("<h2>Summary") < page.index("<h2>Tests")
    summary = page[page.index("<h2>Summary") : page.index("<h2>Tests")]
    assert re.findall(r'<tr><td class="id">([^<]+)</td>', summary) == ["C1", "C2", "C2", "C5", "fair", "privacy"]
    assert '<td class="verdict v-not-reproduced">not reproduced</td>' in page
    assert f".v-not-reproduced{{background:{VERDICT_COLOURS[NOT_REPRODUCED]}}}" in page
    assert "1.23 [0.5, 1.5]" in page and "1.23456" not in page  # 3 significant digits
    headings = re.findall(r"<h3>([^:<]+)", page)
    assert headings == ["C1", "C2", "C5", "fair", "privacy"]


@pytest.mark.parametrize("path", ["results/claims.html"])
def test_the_committed_claims_page_embeds_the_committed_matrix(path):
    import base64

    page = (REPO / path).read_text()
    image = base64.b64encode((REPO / "results" / "figures" / "verdict_matrix.png").read_bytes()).decode()
    assert image in page
