"""Figures, drawn only from the tidy tables in results/tables/.

Every point is the mean over seeds with the Student-t interval of the claims' confidence
(`claims.confidence`); each figure function takes that interval as `errorbar`.
"""

from __future__ import annotations

import math
import re
import textwrap

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from dpharm.claims.rules import NOT_TESTABLE  # noqa: E402
from dpharm.claims.stats import mean_interval  # noqa: E402
from dpharm.data.groups import identity  # noqa: E402
from dpharm.experiments import REGISTRY
from dpharm.io import atomic_path  # noqa: E402

NONPRIVATE_LABEL = "∞"  # the axis title says that it is the non-private run; never rotated (it would read as 8)
EPSILON_AXIS = "target epsilon (∞: non-private)"


# How every point plot draws its means and intervals.
# "colorblind": ten distinct hues (viridis made neighbouring epsilons hard to tell apart)
POINT_STYLE = {"markersize": 4, "linewidth": 1.2, "capsize": 0.1, "palette": "colorblind"}


def interval_of(confidence: float, low: float = -math.inf, high: float = math.inf):
    """seaborn's errorbar: the claims' Student-t interval of the mean over seeds (a point for one
    seed), clipped to [low, high], the range of the metric (accuracy in [0, 1], for example)."""

    def bounds(values) -> tuple[float, float]:
        """(low, high) over the seeds in `values`; both at the mean when one seed leaves the interval undefined."""
        mean, lower, upper = mean_interval(values, confidence)
        lower, upper = (mean, mean) if math.isnan(lower) else (lower, upper)
        return max(lower, low), min(upper, high)

    bounds.confidence = confidence
    return bounds


def frame_the_means(ax, means: pd.Series) -> None:
    """A log axis from a third of the smallest positive mean to three times the largest: an
    interval that reaches 0 (a loss near 0 over few seeds) ends at the frame instead of
    stretching the axis over decades that hold no mean."""
    positive = means[means > 0]
    ax.set_yscale("log")
    if not positive.empty:
        ax.set_ylim(positive.min() / 3, positive.max() * 3)


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take: accuracies [0, 1], their changes [-1, 1], losses [0, inf)."""
    if metric.endswith("accuracy") or metric.startswith("adversarial_accuracy"):
        return 0.0, 1.0
    if metric.endswith("accuracy_change"):
        return -1.0, 1.0
    if "loss" in metric and not metric.endswith("change"):
        return 0.0, math.inf
    return -math.inf, math.inf


def within_range(errorbar, rows: pd.DataFrame):
    """`errorbar` clipped to the range of the metric of `rows` (one metric per panel)."""
    metrics = set(rows["metric"]) if "metric" in rows else set()
    if len(metrics) != 1:
        return errorbar
    return interval_of(errorbar.confidence, *metric_range(metrics.pop()))


def epsilon_label(epsilon: float) -> str:
    """The x-axis label of a target epsilon: '4' for 4.0, NONPRIVATE_LABEL for inf."""
    return NONPRIVATE_LABEL if math.isinf(epsilon) else f"{epsilon:g}"


def epsilon_order(table: pd.DataFrame) -> list[str]:
    """Non-private first, then from weak to strong privacy (large to small epsilon)."""
    return [epsilon_label(e) for e in sorted(table["epsilon"].unique(), reverse=True)]


def with_epsilon_label(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a column of epsilon as the axis shows it (the non-private run labelled in words)."""
    return table.assign(epsilon_label=table["epsilon"].map(epsilon_label))


def points(ax, data: pd.DataFrame, x: str, y: str, hue: str, errorbar, order=None, log: bool = False) -> None:
    """seaborn's point plot of means with `errorbar` intervals, dodged when there are several
    lines; with `log`, on a log axis framed by the means (`frame_the_means`)."""
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
    if log:
        frame_the_means(ax, data.groupby([x, hue])[y].mean())


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


def versus_epsilon(ax, rows: pd.DataFrame, label: str, hue: str, errorbar, title: str = "", log: bool = False) -> None:
    """Mean and interval of `rows['value']` per target epsilon, one line per `hue` value; the axis
    holds the epsilons of `rows` only, so that every line joins measured points. With `log`, on a
    log axis (for losses, which span decades)."""
    data = with_epsilon_label(rows).rename(columns={"value": label})
    points(ax, data, "epsilon_label", label, hue, within_range(errorbar, rows), epsilon_order(rows), log)
    ax.set_xlabel(EPSILON_AXIS)
    ax.set_title(title, fontsize=9)


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


def accuracy_panels(rows: pd.DataFrame, column: str, hue: str, panel_title, title: str, errorbar):
    """One panel per value of `column`: test accuracy versus epsilon, one line per `hue`."""
    values = sorted(rows[column].unique())
    fig, axes = grid(1, len(values), title)
    for ax, value in zip(axes[0], values, strict=False):
        versus_epsilon(
            ax,
            rows[rows[column] == value],
            "test accuracy",
            hue,
            interval_of(errorbar.confidence, 0, 1),
            panel_title(value),
        )
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
    "group": "subpopulation",
    "epsilon_label": "target epsilon",
}


def _legend_content(legend) -> tuple:
    return legend.get_title().get_text(), tuple(text.get_text() for text in legend.get_texts())


def legends_beside_the_data(figure) -> None:
    """Move every panel's legend to the right of its panel, so that no legend covers data, with
    its title in words; identical legends are kept once, beside the last panel of the topmost
    row that holds one."""
    groups: dict[tuple, list] = {}
    for ax in figure.axes:
        if ax.get_legend() is not None:
            groups.setdefault(_legend_content(ax.get_legend()), []).append((ax, ax.get_legend()))
    for group in groups.values():
        ax, legend = _keep_one(group) if len(group) > 1 else group[0]
        title = legend.get_title().get_text()
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7, title_fontsize=7)
        ax.get_legend().set_title(IN_WORDS.get(title, title), prop={"size": 7})


def _keep_one(legends: list) -> tuple:
    """Of identical (panel, legend) pairs, remove all but a new one beside the last panel of the
    topmost row they are in; return that pair."""
    handles, labels = legends[0][0].get_legend_handles_labels()
    title = legends[0][1].get_title().get_text()
    for _, legend in legends:
        legend.remove()
    top = max(ax.get_position().y1 for ax, _ in legends)
    keeper = max((ax for ax, _ in legends if ax.get_position().y1 == top), key=lambda ax: ax.get_position().x1)
    return keeper, keeper.legend(handles, labels, title=title)


def share_comparable_y(figure) -> None:
    """Panels that show the same quantity (the same y label, linear axes) share one y range, so
    that a reader compares heights across panels, not tick labels."""
    by_label: dict[str, list] = {}
    for ax in figure.axes:
        if ax.get_visible() and ax.has_data() and ax.get_yscale() == "linear" and ax.get_ylabel():
            by_label.setdefault(ax.get_ylabel(), []).append(ax)
    for axes in by_label.values():
        if len(axes) > 1:
            low = min(ax.get_ylim()[0] for ax in axes)
            high = max(ax.get_ylim()[1] for ax in axes)
            for ax in axes:
                ax.set_ylim(low, high)


DATASET_NAMES = {
    "synthetic": "synthetic data",
    "digits": "scikit-learn digits",
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
}


# The classes of the image sources in words, by label (digits and MNIST: "digit 7").
CLASS_NAMES = {
    "fashion_mnist": (
        "T-shirt",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}


def class_name(dataset: str, label: int) -> str:
    """A source label in words: 'Bag' for Fashion-MNIST's 8, 'digit 8' for the digits and MNIST."""
    return CLASS_NAMES[dataset][label] if dataset in CLASS_NAMES else f"digit {label}"


def group_in_words(table: pd.DataFrame, group: str) -> str:
    """The name of a group's source label in `table` (its `label` column), e.g. 'Bag'; for a
    group without one (synthetic data, a mixed class) its class and subpopulation, 'class 0, tail'."""
    row = table[table["group"] == group].iloc[0]
    if pd.isna(row["label"]):
        label, subpopulation = identity(group)
        return f"class {label}" + (f", {subpopulation}" if subpopulation else "")
    return class_name(row["dataset"], int(row["label"]))


def name_the_data(figure: plt.Figure, table: pd.DataFrame) -> None:
    """Start the figure's title with the data set(s) its table comes from."""
    if "dataset" not in table:
        return
    names = ", ".join(DATASET_NAMES.get(d, d) for d in sorted(table["dataset"].unique()))
    columns = int(figure.get_figwidth() * 11)  # characters of 10-point text per line
    figure.suptitle(textwrap.fill(f"{names}. {figure.get_suptitle()}", columns), fontsize=10)


GROUP_ID = re.compile(r"\bclass\d+(?:/\w+)?")


def in_words(text: str, table: pd.DataFrame) -> str:
    """`text` with every group id of the table ('class9', 'class0/tail') named as the legends
    name it ('digit 8', 'class 0, tail')."""
    known = set(table["group"]) if "group" in table else set()
    return GROUP_ID.sub(lambda m: group_in_words(table, m.group(0)) if m.group(0) in known else m.group(0), text)


def verdict_lines(tests: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """One short line per claim test: its verdict, effect, interval and threshold; for a test that
    is not testable, its reason (the full metric and notes are in results/claims.md)."""
    lines = []
    for test in tests.itertuples():
        effect = "" if pd.isna(test.effect) else f" {test.effect:.3g}"
        if not (pd.isna(test.ci_low) or pd.isna(test.ci_high)):
            effect += f" [{test.ci_low:.3g}, {test.ci_high:.3g}]"
        threshold = "" if pd.isna(test.min_effect) else f" (threshold {test.min_effect:g})"
        reason = (
            f": {in_words(test.note, table)}" if test.verdict == NOT_TESTABLE and isinstance(test.note, str) else ""
        )
        lines.append(f"{test.claim} {test.test}: {test.verdict}{effect}{threshold}{reason}")
    return lines


def state_the_verdicts(
    figure: plt.Figure, tests: pd.DataFrame, table: pd.DataFrame, summary: list[str] | None = None
) -> None:
    """Write the verdicts of the figure's claim tests under its panels: the experiment's `summary`
    lines where it has one, else one short line per test."""
    if tests.empty:
        return
    columns = int(figure.get_figwidth() * 15)  # characters of 7-point text per line
    summary = verdict_lines(tests, table) if summary is None else summary
    lines = [wrapped for line in summary for wrapped in textwrap.wrap(line, columns)]
    figure.supxlabel("verdicts: " + "\n".join(lines), fontsize=7, ha="left", x=0.01)


def draw(name: str, table: pd.DataFrame, tests: pd.DataFrame, pdf_path, png_path, confidence: float) -> None:
    """Draw figure `name` from its table into a PDF and a PNG, with the verdicts of its claim
    tests (`tests`, rows as in results/tables/claim_tests.csv) under the panels."""

    figure = REGISTRY[name].draw(table, interval_of(confidence))
    name_the_data(figure, table)
    own = tests[tests["experiment"] == name]
    state_the_verdicts(figure, own, table, REGISTRY[name].summarise_verdicts(own, table))
    share_comparable_y(figure)
    legends_beside_the_data(figure)
    for path, fmt in ((pdf_path, "pdf"), (png_path, "png")):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
    plt.close(figure)
