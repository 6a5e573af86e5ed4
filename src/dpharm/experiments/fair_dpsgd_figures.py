"""The fair DP-SGD figures, drawn only from their tables. The comparison: per design (row), the
worst group's test accuracy and the disparity versus epsilon, one line per method, each group's
measured FNR per method at the strongest privacy, and the trade-off of worst-group against
overall accuracy at equal epsilon. The tuning: worst-group and overall accuracy per learning rate."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from dpharm.claims.effects import POINTS
from dpharm.data.groups import ALL
from dpharm.experiments.fair_dpsgd import DESIGNS, compared_groups, method_verdicts
from dpharm.experiments.fair_tuning import LEARNING_RATE, tuning_runs
from dpharm.reporting.plots import (
    EPSILON_AXIS,
    POINT_STYLE,
    grid,
    group_in_words,
    hide_unused,
    points,
    select,
    versus_epsilon,
)
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
    fig, axes = grid(len(designs), 4, "Fair DP-SGD variants against DP-SGD at equal epsilon (beyond the paper)")
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
        trade_off_panel(row[3], rows, sorted(set(rows["method"])), errorbar)
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


def trade_off_panel(ax, rows: pd.DataFrame, methods: list[str], errorbar) -> None:
    """Worst-group against overall test accuracy at the strongest privacy (the epsilon the
    verdicts judge), mean and interval over seeds, one point per method: up and right is better
    on both, so a method below and left of dp-sgd is worse on both."""
    strongest = rows["epsilon"].min()
    worst = per_run(rows, "test_accuracy", "min").rename(columns={"value": "worst"})
    overall = select(rows, "test_accuracy", ALL).set_index(KEYS)["value"].rename("overall")
    runs = worst.join(overall, on=KEYS)
    colours = dict(zip(methods, sns.color_palette(POINT_STYLE["palette"], len(methods)), strict=True))
    for method, run in runs[runs["epsilon"] == strongest].groupby("method"):
        (x_low, x_high), (y_low, y_high) = errorbar(run["overall"]), errorbar(run["worst"])
        x, y = run["overall"].mean(), run["worst"].mean()
        ax.errorbar(x, y, xerr=[[x - x_low], [x_high - x]], yerr=[[y - y_low], [y_high - y]], color=colours[method],
                    marker="o", markersize=5, linewidth=1, capsize=2)  # fmt: skip
    ax.set_xlabel("overall test accuracy")
    ax.set_ylabel("worst-group test accuracy")
    ax.set_title(f"epsilon {strongest:g}: up and right is better", fontsize=9)


def fair_dpsgd_tuning(table: pd.DataFrame, errorbar) -> plt.Figure:
    """Worst-group and overall test accuracy per learning rate, one line per method, one row per design."""
    runs = tuning_runs(table)
    designs = [d for d in DESIGNS if d in set(runs["sweep"])]
    strongest = table.loc[table["epsilon"] < float("inf"), "epsilon"].min()
    fig, axes = grid(len(designs), 2, "The learning-rate budget of every method (tuning seeds, beyond the paper)")
    for row, design in zip(axes, designs, strict=True):
        rows = runs[runs["sweep"] == design]
        for ax, column in zip(row, ("worst_group", "overall"), strict=True):
            label = f"{column.replace('_', '-')} test accuracy (points)"
            points(ax, rows.rename(columns={column: label}), LEARNING_RATE, label, "method", errorbar)
            ax.set_xlabel("learning rate")
            ax.set_title(f"{DESIGNS[design]}, epsilon {strongest:g}", fontsize=9)
    return fig


def verdicts_per_design(tests: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """One line per design under the figure: each method's verdict, its worst-group gain and its
    overall change against DP-SGD (points); every test is in results/claims.md."""
    methods = method_verdicts(tests)
    return [
        f"{design}, per method (worst-group gain, overall change) against DP-SGD in points: "
        + "; ".join(f"{r.method} {r.verdict} ({r.gain:+.1f}, {r.overall:+.1f})" for r in rows.itertuples())
        for design, rows in methods.groupby("design", sort=False)
    ]
