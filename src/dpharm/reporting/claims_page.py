"""results/claims.html: the verdict matrix on top, a summary table of every claim and dataset,
then every test, grouped by claim; verdicts coloured as in the figures, numbers at 3
significant digits, readable from 800 px wide (long statements wrap, no table is cut off)."""

from __future__ import annotations

import base64
import html

import pandas as pd

from dpharm.experiments import claim_statements
from dpharm.reporting.verdict_figures import (
    DATASET_TITLES,
    VERDICT_COLOURS,
    claim_order,
    claim_verdicts,
    effect_text,
    in_claim_order,
)

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px auto;max-width:1400px;padding:0 12px;color:#111}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px;margin:20px 0 6px}
img.matrix{display:block;width:1000px;max-width:100%;height:auto;margin:8px 0}
table{border-collapse:collapse;width:100%;table-layout:auto;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left;overflow-wrap:break-word}
td.id{white-space:nowrap}
td.wide{width:40%}
.note{overflow-wrap:anywhere;font-size:12px;font-style:italic}
th{background:#f2f2f2}
td.number{white-space:nowrap;font-variant-numeric:tabular-nums}
td.verdict{font-weight:600;white-space:nowrap}
.metric{color:#555;font-size:12px}
.legend span{display:inline-block;padding:1px 8px;margin:2px 4px 2px 0;border:1px solid #999}
@media (max-width:900px){td.number{white-space:normal}}
"""


def verdict_css() -> str:
    """One class per verdict, coloured as in the figures."""
    return "".join(f".v-{_slug(v)}{{background:{colour}}}" for v, colour in VERDICT_COLOURS.items())


def _slug(verdict: str) -> str:
    return verdict.replace(" ", "-")


def _verdict_cell(verdict: str) -> str:
    return f'<td class="verdict v-{_slug(verdict)}">{html.escape(verdict)}</td>'


def _text(value) -> str:
    return "" if pd.isna(value) else html.escape(str(value))


def _name(value) -> str:
    """A test name that may wrap after its underscores and hyphens (long names in narrow windows)."""
    return _text(value).replace("_", "_<wbr>").replace("-", "-<wbr>")


def _note(note) -> str:
    """A test's note under what it compares (it may break anywhere: notes hold long key=value lists)."""
    return f'<div class="note">{_text(note)}</div>' if _text(note) else ""


def _table(header: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"


def summary_table(tests: pd.DataFrame) -> str:
    """One row per claim and dataset, in claim order: verdict, primary test, tests reproduced, seeds."""
    rows = [
        f'<tr><td class="id">{_text(c.claim)}</td><td class="id">{_text(DATASET_TITLES.get(c.dataset, c.dataset))}</td>'
        f"{_verdict_cell(c.verdict)}<td>{_name(c.primary_test)}</td>"
        f'<td class="number">{_text(effect_text(c.effect, c.ci_low, c.ci_high) or "-")}</td>'
        f'<td class="number">{int(c.reproduced)} of {int(c.judged)} {_text(c.counted)}</td>'
        f'<td class="number">{int(c.seeds)}</td>'
        f'<td class="wide">{_text(c.statement)}</td></tr>'
        for c in claim_verdicts(tests).itertuples()
    ]
    header = ["claim", "dataset", "verdict", "primary test", "effect [interval]", "reproduced", "seeds", "statement"]
    return _table(header, rows)


def tests_by_claim(tests: pd.DataFrame, confidence: float) -> str:
    """Every test, one table per claim (in claim order) under the claim's statement."""
    statements = claim_statements()
    parts = []
    ordered = in_claim_order(tests)
    for claim in claim_order(ordered["claim"]):
        rows = [
            f'<tr><td class="id">{_text(DATASET_TITLES.get(t.dataset, t.dataset))}</td><td>{_name(t.test)}</td>'
            f'<td class="wide">{_text(t.statement)}<div class="metric">{_text(t.metric)}</div>'
            f"{_note(t.note)}</td>"
            f'<td class="number">{_text(effect_text(t.effect, t.ci_low, t.ci_high) or "-")}</td>'
            f'<td class="number">{_text(t.rule)} {"" if pd.isna(t.min_effect) else f"{t.min_effect:.3g}"}</td>'
            f'<td class="number">{int(t.n_seeds)}</td>{_verdict_cell(t.verdict)}</tr>'
            for t in ordered[ordered["claim"] == claim].itertuples()
        ]
        header = ["dataset", "test", "what is compared (and a note)", f"effect [{confidence:.0%} interval]",
                  "rule, threshold", "seeds", "verdict"]  # fmt: skip
        title = f"{claim}: {statements[claim]}" if claim in statements else claim
        parts.append(f"<h3>{html.escape(title)}</h3>\n{_table(header, rows)}")
    return "\n".join(parts)


def render_html(tests: pd.DataFrame, confidence: float, matrix_png: bytes | None = None) -> str:
    """The claims page from the claim tests (rows as in results/tables/claim_tests.csv); the
    verdict matrix `matrix_png`, when given, is embedded at the top, so that the page stands
    alone (in the Snakemake report too)."""
    image = (
        '<img class="matrix" alt="verdict matrix: the verdict of every claim on every dataset" '
        f'src="data:image/png;base64,{base64.b64encode(matrix_png).decode("ascii")}">\n'
        if matrix_png
        else ""
    )
    legend = "".join(f'<span class="v-{_slug(v)}">{html.escape(v)}</span>' for v in VERDICT_COLOURS)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>Claims</title>"
        f"<style>{STYLE}{verdict_css()}</style></head><body>\n"
        "<h1>Claims: verdicts computed from results/tables/</h1>\n"
        f"<p>Effects are means over seeds with {confidence:.0%} intervals (Student-t over seeds, or a bootstrap "
        "over seeds for pooled statistics), at 3 significant digits; a positive effect is what the claim predicts, "
        "unless its rule is <code>below</code> (reached when the interval lies below the threshold). A claim is "
        "reproduced on a dataset when all its tests are (findings aside), not reproduced when any is not. Rules: "
        "<code>src/dpharm/claims/rules.py</code>; tests: <code>src/dpharm/experiments/</code>; every test: "
        "<code>results/tables/claim_tests.csv</code>; the forest plot of every test: "
        '<code>results/figures/forest.png</code>. A "confirmation" column of the matrix is a run of its own '
        "(<code>results/confirmation/</code>); the tables below are <code>results/tables/</code> alone.</p>\n"
        f'<p class="legend">{legend}</p>\n{image}'
        f"<h2>Summary: one verdict per claim and dataset</h2>\n{summary_table(tests)}\n"
        f"<h2>Tests</h2>\n{tests_by_claim(tests, confidence)}\n</body></html>\n"
    )
