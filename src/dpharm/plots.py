"""Figures, drawn only from the tidy tables in results/tables/.

Every point is the mean over seeds with a 95% Student-t interval.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from scipy import stats  # noqa: E402

from dpharm.io import atomic_path  # noqa: E402

NONPRIVATE_LABEL = "∞ (non-private)"


def mean_ci95(values) -> tuple[float, float]:
    """95% Student-t confidence interval of the mean over seeds (a point for one seed)."""
    values = np.asarray(values, dtype=float)
    mean = values.mean()
    if len(values) < 2:
        return mean, mean
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return mean - half, mean + half


def epsilon_label(epsilon: float) -> str:
    return NONPRIVATE_LABEL if math.isinf(epsilon) else f"{epsilon:g}"


def epsilon_order(table: pd.DataFrame) -> list[str]:
    """Non-private first, then from weak to strong privacy (large to small epsilon)."""
    return [epsilon_label(e) for e in sorted(table["epsilon"].unique(), reverse=True)]


def _with_epsilon_label(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(epsilon_label=table["epsilon"].map(epsilon_label))


def _points(ax, data: pd.DataFrame, x: str, y: str, hue: str, order=None) -> None:
    dodge = 0.3 if data[hue].nunique() > 1 else False
    sns.pointplot(data=data, x=x, y=y, hue=hue, order=order, errorbar=mean_ci95, dodge=dodge,
                  markersize=4, linewidth=1.2, capsize=0.1, ax=ax, palette="viridis")


def utility_vs_noise(table: pd.DataFrame) -> plt.Figure:
    """C1: test loss, accuracy and measured FNR fall/rise with the DP noise, per feature norm."""
    data = _with_epsilon_label(table)
    order = epsilon_order(table)
    panels = [("test_loss", "all", "test loss"), ("test_accuracy", "all", "test accuracy"),
              ("fnr_measured", "class1", "measured FNR (class 1)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), constrained_layout=True)
    for ax, (metric, group, label) in zip(axes, panels):
        rows = data[(data["metric"] == metric) & (data["group"] == group)]
        _points(ax, rows.rename(columns={"value": label}), "epsilon_label", label, "feature_norm", order)
        ax.set_xlabel("target epsilon")
        ax.tick_params(axis="x", rotation=30)
    axes[0].set_yscale("log")
    fig.suptitle("C1: DP noise lowers the FNR and raises the test loss, more so for weak features", fontsize=10)
    return fig


def class_imbalance(table: pd.DataFrame) -> plt.Figure:
    """C2: per-class test accuracy versus epsilon, one panel per imbalance ratio."""
    data = _with_epsilon_label(table)
    rows = data[(data["metric"] == "test_accuracy") & data["group"].isin(["class0", "class1"])]
    rows = rows.assign(**{"class": rows["group"].map({"class0": "class 0 (majority)", "class1": "class 1 (minority)"})})
    ratios = sorted(rows["imbalance_ratio"].unique())
    fig, axes = plt.subplots(1, len(ratios), figsize=(max(5.5, 3.8 * len(ratios)), 3.6), sharey=True, constrained_layout=True)
    for ax, ratio in zip(np.atleast_1d(axes), ratios):
        _points(ax, rows[rows["imbalance_ratio"] == ratio].rename(columns={"value": "test accuracy"}),
                "epsilon_label", "test accuracy", "class", epsilon_order(table))
        ax.set_title(f"imbalance ratio {ratio:g}")
        ax.set_xlabel("target epsilon")
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle("C2: under DP the minority class loses far more accuracy than the majority", fontsize=10)
    return fig


def pretraining_shift(table: pd.DataFrame) -> plt.Figure:
    """C5: test accuracy versus public/private feature shift, scratch versus pre-trained."""
    rows = table[(table["metric"] == "test_accuracy") & (table["group"] == "all")]
    epsilons = sorted(rows["epsilon"].unique(), reverse=True)
    fig, axes = plt.subplots(1, len(epsilons), figsize=(max(5.5, 3.8 * len(epsilons)), 3.6), sharey=True, constrained_layout=True)
    for ax, epsilon in zip(np.atleast_1d(axes), epsilons):
        _points(ax, rows[rows["epsilon"] == epsilon].rename(columns={"value": "test accuracy"}),
                "shift_angle", "test accuracy", "init")
        ax.set_title(f"epsilon {epsilon_label(epsilon)}")
        ax.set_xlabel("feature shift angle theta (degrees)")
    fig.suptitle("C5: the gain of public pre-training shrinks as the feature shift grows", fontsize=10)
    return fig


FIGURES = {
    "utility_vs_noise": utility_vs_noise,
    "class_imbalance": class_imbalance,
    "pretraining_shift": pretraining_shift,
}


def draw(experiment: str, table: pd.DataFrame, pdf_path, png_path) -> None:
    figure = FIGURES[experiment](table)
    for path, fmt in ((pdf_path, "pdf"), (png_path, "png")):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
    plt.close(figure)
