"""Figures, drawn only from the tidy tables in results/tables/.

Every point is the mean over seeds with the Student-t interval of the claims' confidence
(`claims.confidence`); each figure function takes that interval as `errorbar`.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from dpharm.io import atomic_path  # noqa: E402
from dpharm.stats import mean_interval  # noqa: E402

NONPRIVATE_LABEL = "∞"  # the axis title says that it is the non-private run
EPSILON_AXIS = "target epsilon (∞: non-private)"


# How every point plot draws its means and intervals.
POINT_STYLE = {"markersize": 4, "linewidth": 1.2, "capsize": 0.1, "palette": "viridis"}


def interval_of(confidence: float):
    """seaborn's errorbar: the claims' Student-t interval of the mean over seeds (a point for one seed)."""

    def bounds(values) -> tuple[float, float]:
        """(low, high) over the seeds in `values`; both at the mean when one seed leaves the interval undefined."""
        mean, low, high = mean_interval(values, confidence)
        return (mean, mean) if math.isnan(low) else (low, high)

    return bounds


def epsilon_label(epsilon: float) -> str:
    """The x-axis label of a target epsilon: '4' for 4.0, NONPRIVATE_LABEL for inf."""
    return NONPRIVATE_LABEL if math.isinf(epsilon) else f"{epsilon:g}"


def epsilon_order(table: pd.DataFrame) -> list[str]:
    """Non-private first, then from weak to strong privacy (large to small epsilon)."""
    return [epsilon_label(e) for e in sorted(table["epsilon"].unique(), reverse=True)]


def with_epsilon_label(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a column of epsilon as the axis shows it (the non-private run labelled in words)."""
    return table.assign(epsilon_label=table["epsilon"].map(epsilon_label))


def points(ax, data: pd.DataFrame, x: str, y: str, hue: str, errorbar, order=None) -> None:
    """seaborn's point plot of means with `errorbar` intervals, dodged when there are several lines."""
    dodge = 0.3 if data[hue].nunique() > 1 else False
    sns.pointplot(
        data=data,
        x=x,
        y=y,
        hue=hue,
        order=order,
        errorbar=errorbar,
        dodge=dodge,
        ax=ax,
        **POINT_STYLE,
    )


def select(
    table: pd.DataFrame, metric: str, group: str | None = None, sweep: str | None = None, attacked: bool = False
) -> pd.DataFrame:
    """Rows of one metric (and group, sweep); attack metrics keep every radius."""
    rows = table[table["metric"] == metric]
    if group is not None:
        rows = rows[rows["group"] == group]
    if sweep is not None:
        rows = rows[rows["sweep"] == sweep]
    return rows if attacked else rows[rows["attack_radius"].isna()]


def versus_epsilon(
    ax, table: pd.DataFrame, rows: pd.DataFrame, label: str, hue: str, errorbar, title: str = ""
) -> None:
    """Mean and interval of `rows['value']` per target epsilon, one line per `hue` value."""
    data = with_epsilon_label(rows).rename(columns={"value": label})
    points(ax, data, "epsilon_label", label, hue, errorbar, epsilon_order(table))
    ax.set_xlabel(EPSILON_AXIS)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", rotation=30)


def grid(rows: int, cols: int, title: str):
    """A figure of rows x cols panels sized to stay readable, with a title."""
    fig, axes = plt.subplots(
        rows, cols, figsize=(max(5.5, 4.0 * cols), 3.5 * rows), squeeze=False, constrained_layout=True
    )
    fig.suptitle(title, fontsize=10)
    return fig, axes


def hide_unused(axes) -> None:
    """Hide the panels a figure's grid has but no sweep fills."""
    for ax in axes.flat:
        if not ax.has_data():
            ax.set_visible(False)


def accuracy_panels(table: pd.DataFrame, rows: pd.DataFrame, column: str, hue: str, panel_title, title: str, errorbar):
    """One panel per value of `column`: test accuracy versus epsilon, one line per `hue`."""
    values = sorted(rows[column].unique())
    fig, axes = grid(1, len(values), title)
    for ax, value in zip(axes[0], values, strict=False):
        versus_epsilon(ax, table, rows[rows[column] == value], "test accuracy", hue, errorbar, panel_title(value))
    return fig


# Config keys and table columns that figures use as legend titles, in words.
IN_WORDS = {
    "augmentation_multiplicity": "augmented views per example (k)",
    "frozen_fraction": "share of filters frozen",
    "feature_norm": "feature norm",
    "width": "filters per class (m)",
    "n_train": "training examples (n)",
    "tail_frequency": "tail frequency",
    "tail_feature_norm": "tail feature norm",
    "imbalance_ratio": "imbalance ratio",
    "minority_fraction": "share of the reduced class kept",
    "init": "start",
    "group": "group",
}


def legends_beside_the_data(figure) -> None:
    """Move every panel's legend to the right of its panel, so that no legend covers data, with
    its title in words."""
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is not None:
            title = legend.get_title().get_text()
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7, title_fontsize=7)
            ax.get_legend().set_title(IN_WORDS.get(title, title), prop={"size": 7})


DATASET_NAMES = {
    "synthetic": "synthetic data",
    "digits": "scikit-learn digits",
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
}


def name_the_data(figure: plt.Figure, table: pd.DataFrame) -> None:
    """Start the figure's title with the data set(s) its table comes from."""
    if "dataset" not in table:
        return
    names = ", ".join(DATASET_NAMES.get(d, d) for d in sorted(table["dataset"].unique()))
    figure.suptitle(f"{names}. {figure.get_suptitle()}", fontsize=10)


def draw(name: str, table: pd.DataFrame, pdf_path, png_path, confidence: float) -> None:
    """Draw figure `name` from its table into a PDF and a PNG."""
    from dpharm.experiments import REGISTRY

    figure = REGISTRY[name].draw(table, interval_of(confidence))
    name_the_data(figure, table)
    legends_beside_the_data(figure)
    for path, fmt in ((pdf_path, "pdf"), (png_path, "png")):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
    plt.close(figure)
