"""The fair DP-SGD figure, drawn only from its table: per design (row), the worst group's test
accuracy and the disparity versus epsilon, one line per method, and each group's measured FNR
per method at the strongest privacy."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from dpharm.claims.effects import POINTS
from dpharm.experiments.fair_dpsgd import DESIGNS, compared_groups
from dpharm.reporting.plots import EPSILON_AXIS, POINT_STYLE, grid, group_in_words, hide_unused, select, versus_epsilon
from dpharm.training.methods import method_names

KEYS = ["method", "seed", "epsilon"]


def per_run(rows: pd.DataFrame, metric: str, how: str) -> pd.DataFrame:
    """One value per run (method, seed, epsilon) over the design's groups: min or max minus min."""
    runs = select(rows, metric)
    runs = runs[runs["group"].isin(compared_groups(rows))].groupby(KEYS)["value"]
    values = runs.min() if how == "min" else runs.max() - runs.min()
    return values.reset_index()


def fair_dpsgd(table: pd.DataFrame, errorbar) -> plt.Figure:
    """Worst-group accuracy, disparity and per-group FNR of every method, one row per design."""
    designs = [d for d in DESIGNS if d in set(table["sweep"])]
    fig, axes = grid(len(designs), 3, "Fair DP-SGD variants against DP-SGD at equal epsilon (beyond the paper)")
    order = [m for m in method_names() if m in set(table["method"])]
    most_groups = max(len(compared_groups(table[table["sweep"] == d])) for d in designs)
    fig.set_figheight(len(designs) * max(3.5, 1.5 + 0.32 * most_groups))  # room for every group's name
    for row, design in zip(axes, designs, strict=False):
        rows = table[table["sweep"] == design]
        worst = per_run(rows, "test_accuracy", "min")
        versus_epsilon(row[0], worst, "worst-group test accuracy", "method", errorbar, f"{DESIGNS[design]}")
        drops = per_run(rows, "test_accuracy_change", "spread").assign(value=lambda t: t["value"] * POINTS)
        drops = drops[drops["epsilon"] != float("inf")]
        versus_epsilon(row[1], drops, "disparity (points)", "method", errorbar, "largest minus smallest group drop")
        strongest = rows["epsilon"].min()
        fnr = select(rows, "fnr_measured")
        fnr = fnr[fnr["group"].isin(compared_groups(rows)) & (fnr["epsilon"] == strongest)]
        fnr = fnr.assign(group=fnr["group"].map(lambda g: group_in_words(table, g)))
        # groups down the y axis (their names stay apart however many there are), unjoined: groups
        # are categories, not a sequence
        sns.pointplot(data=fnr.rename(columns={"value": "measured FNR"}), x="measured FNR", y="group", hue="method",
                      order=sorted(fnr["group"].unique()), errorbar=errorbar, dodge=0.5, linestyle="none",
                      ax=row[2], **POINT_STYLE)  # fmt: skip
        row[2].set_title(f"each group's FNR at epsilon {strongest:g}", fontsize=9)
        for ax in row[:2]:  # one legend per row, beside its last panel: the colours are shared
            ax.get_legend().remove()
        handles, labels = row[2].get_legend_handles_labels()
        ranked = sorted(zip(handles, labels, strict=True), key=lambda pair: order.index(pair[1]))
        row[2].legend(
            *zip(*ranked, strict=True), fontsize=7, title="method", loc="upper left", bbox_to_anchor=(1.02, 1)
        )
    axes[0][0].set_xlabel(EPSILON_AXIS)
    hide_unused(axes)
    return fig
