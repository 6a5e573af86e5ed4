"""The conclusion at a glance: the verdict matrix and the forest plot of every claim test, drawn
only from claim tests: results/tables/claim_tests.csv, and for the matrix also the
confirmations' (results/confirmation/*/claim_tests.csv), each confirmed dataset in a second
column, "confirmation", beside its shipped one, then titled "pilot".

- Verdict matrix: one cell per claim (rows, in `CLAIM_ORDER`) and dataset (columns), coloured by
  the claim's verdict on that dataset (`dpharm.claims.judging.summarise`, which combines the
  verdicts of its tests by `dpharm.claims.rules.combine`), with the verdict in words, the effect
  and interval of its primary (first) test, how many of its judged tests are reproduced, and on
  how many seeds (a pilot's five and a confirmation's ten tell apart at a glance). The fair
  claim is judged per method and design: its cell counts those verdicts and shows the
  worst-group gain of the best method (`_per_method`).
- Forest plot: one row per test, its effect and interval against its threshold, grouped by claim
  and dataset. The effects come in different units (accuracy points, nats, epsilon, FNR units, a
  correlation...), so the rows are split into one panel per unit, each on its own linear axis in
  that unit; nothing is normalised. A test's threshold is a black bar with a triangle pointing
  to the side on which the claim is reached: right for the rules `effect` and `above`, left for
  `below` (the interval must lie below it). A finding has no threshold; a test without an effect
  (not testable, or not computable) is named in words at its threshold.

Colours: the Okabe-Ito palette, which stays distinct under the common colour-vision
deficiencies; every cell and row also names its verdict in words or sits beside a legend.
"""

from __future__ import annotations

import math
import textwrap

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

from dpharm.claims.judging import summarise  # noqa: E402
from dpharm.claims.rules import (  # noqa: E402
    BELOW,
    FINDING,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_TESTABLE,
    REPRODUCED,
)
from dpharm.experiments import claim_statements  # noqa: E402
from dpharm.experiments.fair_dpsgd import FAIR_CLAIM, method_verdicts  # noqa: E402
from dpharm.io import atomic_path  # noqa: E402

# Okabe & Ito (2008): bluish green, vermillion, yellow, grey, sky blue.
VERDICT_COLOURS = {
    REPRODUCED: "#009e73",
    NOT_REPRODUCED: "#d55e00",
    INCONCLUSIVE: "#f0e442",
    NOT_TESTABLE: "#bbbbbb",
    FINDING: "#56b4e9",
}
NO_TEST_COLOUR = "#ffffff"  # a claim that has no test on a dataset
VERDICT_ORDER = list(VERDICT_COLOURS)
DATASET_ORDER = ["synthetic", "digits", "fashion_mnist"]
DATASET_TITLES = {"synthetic": "synthetic", "digits": "digits", "fashion_mnist": "Fashion-MNIST"}
LAST_CLAIMS = ["fair", "privacy"]  # after the paper's claims C1..C6


def claim_order(claims) -> list[str]:
    """The paper's claims in number order (C1..C6), then fair, then privacy, then any other."""
    claims = list(dict.fromkeys(claims))
    paper = sorted((c for c in claims if c[:1] == "C" and c[1:].isdigit()), key=lambda c: int(c[1:]))
    last = [c for c in LAST_CLAIMS if c in claims]
    return paper + last + [c for c in claims if c not in paper and c not in last]


CONFIRMED = " (confirmation)"  # the dataset of a confirmation's tests, in the matrix


def dataset_order(datasets) -> list[str]:
    """The datasets in `DATASET_ORDER`, any other after them; a confirmation right after its own."""
    datasets = list(dict.fromkeys(datasets))

    def place(dataset: str) -> tuple:
        base = dataset.removesuffix(CONFIRMED)
        rank = DATASET_ORDER.index(base) if base in DATASET_ORDER else len(DATASET_ORDER)
        return rank, base, dataset != base

    return sorted(datasets, key=place)


def column_title(dataset: str, columns: list[str]) -> str:
    """'Fashion-MNIST'; with a confirmation among `columns`, 'pilot' and 'confirmation' under it."""
    base = dataset.removesuffix(CONFIRMED)
    title = DATASET_TITLES.get(base, base)
    if dataset != base:
        return f"{title}\nconfirmation"
    return f"{title}\npilot" if dataset + CONFIRMED in columns else title


def with_confirmations(tests: pd.DataFrame, confirmations: list[pd.DataFrame]) -> pd.DataFrame:
    """The tests, and each confirmation's as datasets of their own ('<dataset> (confirmation)')."""
    confirmed = [table.assign(dataset=table["dataset"] + CONFIRMED) for table in confirmations]
    return pd.concat([tests, *confirmed], ignore_index=True)


def in_claim_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by claim (`claim_order`), then dataset (`dataset_order`), keeping the order of
    the tests within a claim and dataset."""
    claims = {c: i for i, c in enumerate(claim_order(frame["claim"]))}
    datasets = {d: i for i, d in enumerate(dataset_order(frame["dataset"]))}
    keys = frame.assign(_c=frame["claim"].map(claims), _d=frame["dataset"].map(datasets))
    return frame.loc[keys.sort_values(["_c", "_d"], kind="stable").index]


def number(value: float) -> str:
    """A number at 3 significant digits ('-' for NaN)."""
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def effect_text(effect: float, low: float, high: float) -> str:
    """'13.4 [10.7, 16.1]', '3.91' without an interval, '' without an effect."""
    if pd.isna(effect):
        return ""
    if pd.isna(low) or pd.isna(high):
        return number(effect)
    return f"{number(effect)} [{number(low)}, {number(high)}]"


def claim_verdicts(tests: pd.DataFrame) -> pd.DataFrame:
    """One row per claim and dataset (`summarise`, in claim order) with the counts of its tests:
    `judged` (findings aside) and `reproduced`, and the most `seeds` any of its tests pooled."""
    claims = summarise(tests, claim_statements())
    counts = (
        tests.assign(judged=tests["verdict"] != FINDING, reproduced=tests["verdict"] == REPRODUCED)
        .groupby(["claim", "dataset"], sort=False)
        .agg(judged=("judged", "sum"), reproduced=("reproduced", "sum"), seeds=("n_seeds", "max"))
        .reset_index()
    )
    claims = claims.merge(counts, on=["claim", "dataset"], how="left").assign(counted="tests")
    primary = tests.groupby(["claim", "dataset"], sort=False)["test"].first().rename("primary_test").reset_index()
    claims = claims.merge(primary, on=["claim", "dataset"], how="left")
    return in_claim_order(_per_method(claims, method_verdicts(tests))).reset_index(drop=True)


def _per_method(claims: pd.DataFrame, methods: pd.DataFrame) -> pd.DataFrame:
    """The fair claim counts methods, not tests (each method's verdict needs its gain and its
    guardrail): per dataset, how many method-and-design verdicts reproduce, and the worst-group
    gain of the best one (a reproduced one first, then the largest gain: a gain that fails the
    guardrail is levelling down, not the best)."""
    claims = claims.copy()
    for dataset, rows in methods.groupby("dataset") if len(methods) else ():
        ranked = rows.assign(passed=rows["verdict"] == REPRODUCED).sort_values(["passed", "gain"], na_position="first")
        best = ranked.iloc[-1]  # a method without an estimate is never the best
        where = (claims["claim"] == FAIR_CLAIM) & (claims["dataset"] == dataset)
        claims.loc[where, ["primary_test", "effect", "ci_low", "ci_high"]] = [
            f"best: {best['method']}, {best['design'].split(' (')[0]}",
            best["gain"], best["gain_low"], best["gain_high"],
        ]  # fmt: skip
        claims.loc[where, ["reproduced", "judged", "counted"]] = [
            ranked["passed"].sum(),
            len(ranked),
            "methods x designs",
        ]
    return claims


def _legend(figure, verdicts, **where) -> None:
    handles = [Patch(facecolor=VERDICT_COLOURS[v], edgecolor="black", linewidth=0.5, label=v) for v in verdicts]
    figure.legend(handles=handles, frameon=False, fontsize=9, **where)


def verdict_matrix(tests: pd.DataFrame, confirmations: list[pd.DataFrame] = ()) -> plt.Figure:
    """The verdict of every claim on every dataset, one coloured cell each (module docstring)."""
    claims = claim_verdicts(with_confirmations(tests, list(confirmations)))
    rows, columns = claim_order(claims["claim"]), dataset_order(claims["dataset"])
    cells = claims.set_index(["claim", "dataset"])
    figure, ax = plt.subplots(figsize=(2.9 * len(columns) + 0.9, 0.95 * len(rows) + 1.3), constrained_layout=True)
    for i, claim in enumerate(rows):
        for j, dataset in enumerate(columns):
            cell = cells.loc[(claim, dataset)] if (claim, dataset) in cells.index else None
            colour = NO_TEST_COLOUR if cell is None else VERDICT_COLOURS[cell["verdict"]]
            ax.add_patch(plt.Rectangle((j, i), 1, 1, facecolor=colour, edgecolor="white", linewidth=2, gid=claim))
            if cell is None:
                ax.text(j + 0.5, i + 0.5, "no test", ha="center", va="center", fontsize=9, color="#666666")
                continue
            effect = effect_text(cell["effect"], cell["ci_low"], cell["ci_high"]) or "no estimate"
            counted = f"{cell['counted']} reproduced: {int(cell['reproduced'])} of {int(cell['judged'])}"
            if cell["seeds"] > 1:  # the privacy audit counts trials, not seeds
                counted += f", {int(cell['seeds'])} seeds"
            lines = [(cell["verdict"], 10, "bold"), (cell["primary_test"], 7.5, "normal"), (effect, 8.5, "normal"),
                     (counted, 7.5, "normal")]  # fmt: skip
            for k, (text, size, weight) in enumerate(lines):
                ax.text(j + 0.5, i + 0.2 + 0.2 * k, text, ha="center", va="center", fontsize=size, weight=weight)
    ax.set_xlim(0, len(columns))
    ax.set_ylim(len(rows), 0)
    ax.set_xticks([j + 0.5 for j in range(len(columns))], [column_title(d, columns) for d in columns], fontsize=11)
    ax.set_yticks([i + 0.5 for i in range(len(rows))], rows, fontsize=11)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    figure.suptitle(
        "Verdict of every claim on every dataset\n"
        "(cell: verdict, primary test, its effect [interval], tests reproduced, seeds;\n"
        "fair: one verdict per method and design, the best method's worst-group gain)",
        fontsize=10,
    )
    _legend(figure, VERDICT_ORDER, loc="outside lower center", ncol=3)
    return figure


# Units of the effects, recognised in a test's `metric`: (unit, words in the metric), first match wins.
UNITS = [
    ("accuracy points", ("points",)),
    ("share of the FNR removed by DP", ("1 - FNR_DP",)),
    ("epsilon", ("epsilon - lower bound", "claimed epsilon")),
    ("FNR gained", ("FNR gained",)),
    ("nats of test loss", ("nats",)),
    ("Spearman correlation", ("Spearman",)),
    ("decades of FNR", ("decades of FNR",)),
]
OTHER_UNIT = "other"
OUTLINE = [patheffects.withStroke(linewidth=3.8, foreground="#333333")]  # light colours (yellow) stay visible


def unit_of(metric: str) -> str:
    """The unit of a test's effect, from the words of its metric."""
    for unit, words in UNITS:
        if any(word in metric for word in words):
            return unit
    return OTHER_UNIT


def forest_rows(tests: pd.DataFrame) -> pd.DataFrame:
    """The tests in claim order with their unit and a row label."""
    rows = in_claim_order(tests).reset_index(drop=True)
    return rows.assign(
        unit=rows["metric"].map(unit_of),
        label=[f"{r.claim} {DATASET_TITLES.get(r.dataset, r.dataset)}: {r.test}" for r in rows.itertuples()],
    )


def _forest_panel(ax, rows: pd.DataFrame, unit: str) -> None:
    """One unit's tests, top to bottom, with their thresholds and numbers."""
    ys = list(range(len(rows)))
    for y, row in zip(ys, rows.itertuples(), strict=True):
        colour = VERDICT_COLOURS[row.verdict]
        if row.rule != FINDING and not pd.isna(row.min_effect):
            ax.plot([row.min_effect], [y], marker="|", markersize=11, color="black", markeredgewidth=1.4, zorder=3)
            side = -1 if row.rule == BELOW else 1  # the claim is reached on this side of the threshold
            beside = offset_copy(ax.transData, fig=ax.figure, x=side * 6, units="points")
            ax.plot([row.min_effect], [y], marker=">" if side > 0 else "<", markersize=4.5, color="black",
                    transform=beside, zorder=3, linestyle="none")  # fmt: skip
        if pd.isna(row.effect):
            where = 0.0 if pd.isna(row.min_effect) else row.min_effect
            after = offset_copy(ax.transData, fig=ax.figure, x=12, units="points")  # after the triangle
            ax.text(where, y, row.verdict, va="center", ha="left", fontsize=7, style="italic", color="#444444",
                    transform=after)  # fmt: skip
            continue
        if not (pd.isna(row.ci_low) or pd.isna(row.ci_high)):
            ax.plot([row.ci_low, row.ci_high], [y, y], color=colour, linewidth=2.6, solid_capstyle="butt", zorder=2,
                    gid=row.verdict, path_effects=OUTLINE)  # fmt: skip
        ax.plot([row.effect], [y], marker="o", markersize=5, color=colour, markeredgecolor="black",
                markeredgewidth=0.6, zorder=4, linestyle="none", gid=row.verdict)  # fmt: skip
    ax.axvline(0, color="#999999", linewidth=0.8, zorder=1)
    groups = rows[["claim", "dataset"]].apply(tuple, axis=1)
    for y in range(1, len(rows)):
        if groups.iloc[y] != groups.iloc[y - 1]:
            ax.axhline(y - 0.5, color="#DDDDDD", linewidth=0.8, zorder=0)
    ax.set_yticks(ys, rows["label"], fontsize=7)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(unit, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    right = ax.secondary_yaxis("right")
    right.set_yticks(ys, [effect_text(r.effect, r.ci_low, r.ci_high) or "-" for r in rows.itertuples()], fontsize=7)
    right.tick_params(length=0)
    ax.grid(axis="x", color="#EEEEEE", linewidth=0.6)
    ax.set_axisbelow(True)


def forest(tests: pd.DataFrame) -> plt.Figure:
    """Every test's effect and interval against its threshold, one panel per unit (module docstring)."""
    rows = forest_rows(tests)
    units = [unit for unit, _ in UNITS if unit in set(rows["unit"])] + (
        [OTHER_UNIT] if OTHER_UNIT in set(rows["unit"]) else []
    )
    heights = [(rows["unit"] == unit).sum() + 2.2 for unit in units]
    figure, axes = plt.subplots(
        len(units), 1, figsize=(9.5, 0.19 * sum(heights) + 1.2), height_ratios=heights, constrained_layout=True,
        squeeze=False,
    )  # fmt: skip
    for ax, unit in zip(axes[:, 0], units, strict=True):
        _forest_panel(ax, rows[rows["unit"] == unit].reset_index(drop=True), unit)
    figure.suptitle(
        "\n".join(textwrap.wrap(
            "Every claim test: effect (dot) and interval (bar) in its unit, one panel per unit; black bar: the "
            "test's threshold, the triangle points to the side the claim needs (right: rules effect and above; "
            "left: rule below); grey line: 0; numbers on the right: effect [interval]", 130)),
        fontsize=8,
    )  # fmt: skip
    handles = [Line2D([], [], marker="o", color=VERDICT_COLOURS[v], markeredgecolor="black", linewidth=2.6, label=v)
               for v in VERDICT_ORDER]  # fmt: skip
    handles.append(Line2D([], [], marker="|", color="black", linestyle="none", markersize=10, label="threshold"))
    figure.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, fontsize=8)
    return figure


def save(figure: plt.Figure, pdf_path, png_path) -> None:
    """The figure as PDF and PNG (150 dpi), written atomically and without a creation date."""
    for path, fmt in ((pdf_path, "pdf"), (png_path, "png")):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
    plt.close(figure)


def draw_verdict_figures(
    tests: pd.DataFrame, confirmations: list[pd.DataFrame], matrix_pdf, matrix_png, forest_pdf, forest_png
) -> None:
    """Both figures from the claim tests (rows as in results/tables/claim_tests.csv); the matrix
    with the confirmations' columns."""
    save(verdict_matrix(tests, confirmations), matrix_pdf, matrix_png)
    save(forest(tests), forest_pdf, forest_png)
