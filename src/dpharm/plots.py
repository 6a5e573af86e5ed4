"""Figures, drawn only from the tidy tables in results/tables/.

Every point is the mean over seeds with the Student-t interval of the claims' confidence
(`claims.confidence`); each figure function takes that interval as `errorbar`.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from dpharm.io import atomic_path  # noqa: E402
from dpharm.stats import mean_interval  # noqa: E402

NONPRIVATE_LABEL = "∞ (non-private)"


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


def _with_epsilon_label(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(epsilon_label=table["epsilon"].map(epsilon_label))


def _points(ax, data: pd.DataFrame, x: str, y: str, hue: str, errorbar, order=None) -> None:
    dodge = 0.3 if data[hue].nunique() > 1 else False
    sns.pointplot(
        data=data,
        x=x,
        y=y,
        hue=hue,
        order=order,
        errorbar=errorbar,
        dodge=dodge,
        markersize=4,
        linewidth=1.2,
        capsize=0.1,
        ax=ax,
        palette="viridis",
    )


def _select(
    table: pd.DataFrame, metric: str, group: str | None = None, sweep: str | None = None, attacked: bool = False
) -> pd.DataFrame:
    """Rows of one metric (and group, sweep); attack metrics keep every radius."""
    rows = table[table["metric"] == metric]
    if group is not None:
        rows = rows[rows["group"] == group]
    if sweep is not None:
        rows = rows[rows["sweep"] == sweep]
    return rows if attacked else rows[rows["attack_radius"].isna()]


def _versus_epsilon(
    ax, table: pd.DataFrame, rows: pd.DataFrame, label: str, hue: str, errorbar, title: str = ""
) -> None:
    """Mean and interval of `rows['value']` per target epsilon, one line per `hue` value."""
    data = _with_epsilon_label(rows).rename(columns={"value": label})
    _points(ax, data, "epsilon_label", label, hue, errorbar, epsilon_order(table))
    ax.set_xlabel("target epsilon")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", rotation=30)


def _grid(rows: int, cols: int, title: str):
    fig, axes = plt.subplots(
        rows, cols, figsize=(max(5.5, 4.0 * cols), 3.5 * rows), squeeze=False, constrained_layout=True
    )
    fig.suptitle(title, fontsize=10)
    return fig, axes


def _hide_unused(axes) -> None:
    for ax in axes.flat:
        if not ax.has_data():
            ax.set_visible(False)


def _accuracy_panels(table: pd.DataFrame, rows: pd.DataFrame, column: str, hue: str, panel_title, title: str, errorbar):
    """One panel per value of `column`: test accuracy versus epsilon, one line per `hue`."""
    values = sorted(rows[column].unique())
    fig, axes = _grid(1, len(values), title)
    for ax, value in zip(axes[0], values, strict=False):
        _versus_epsilon(ax, table, rows[rows[column] == value], "test accuracy", hue, errorbar, panel_title(value))
    return fig


def utility_vs_noise(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C1: loss, accuracy and measured FNR versus epsilon, by feature norm, width and n."""
    sweeps = [s for s in ("feature_norm", "width", "n_train") if s in set(table["sweep"])]
    fig, axes = _grid(
        len(sweeps),
        3,
        "C1 (claim: DP noise lowers the FNR and raises the loss; worse for weak features, larger models, less data)",
    )
    for row, sweep in zip(axes, sweeps, strict=False):
        panels = [
            ("test_loss", "all", "test loss"),
            ("test_accuracy", "all", "test accuracy"),
            ("fnr_measured", "class0", "measured FNR (class 0)"),
        ]
        for ax, (metric, group, label) in zip(row, panels, strict=False):
            _versus_epsilon(ax, table, _select(table, metric, group, sweep), label, sweep, errorbar, f"sweep: {sweep}")
        row[0].set_yscale("log")
        row[2].set_yscale("log")
    return fig


def class_imbalance(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C2: per-class test accuracy versus epsilon, one panel per imbalance ratio."""
    rows = _select(table, "test_accuracy")
    rows = rows[rows["group"].isin(["class0", "class1"])]
    rows = rows.assign(**{"class": rows["group"].map({"class0": "class 0 (majority)", "class1": "class 1 (minority)"})})
    return _accuracy_panels(
        table,
        rows,
        "imbalance_ratio",
        "class",
        lambda v: f"imbalance ratio {v:g}",
        "C2 (claim: under DP the minority class loses far more accuracy)",
        errorbar,
    )


def long_tail(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C3: head versus tail accuracy of class 0 versus epsilon, per tail frequency / tail norm."""
    sweeps = [
        (s, c)
        for s, c in (("rare_tail", "tail_frequency"), ("weak_tail", "tail_feature_norm"))
        if s in set(table["sweep"])
    ]
    width = max(table.loc[table["sweep"] == s, c].nunique() for s, c in sweeps)
    fig, axes = _grid(len(sweeps), width, "C3 (claim: DP hurts the long-tailed subpopulation more than the head)")
    for row, (sweep, column) in zip(axes, sweeps, strict=False):
        rows = _select(table, "test_accuracy", sweep=sweep)
        rows = rows[rows["group"].isin(["class0/head", "class0/tail"])]
        for ax, value in zip(row, sorted(rows[column].unique()), strict=False):
            _versus_epsilon(
                ax, table, rows[rows[column] == value], "test accuracy", "group", errorbar, f"{column} {value:g}"
            )
    _hide_unused(axes)
    return fig


def adversarial(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C4: adversarial loss and accuracy versus the attack budget, one line per epsilon."""
    threat_models = [
        (suffix, name)
        for suffix, name in (("", "PGD-l2"), ("_linf", "PGD-linf"))
        if f"adversarial_loss{suffix}" in set(table["metric"])
    ]
    fig, axes = _grid(
        len(threat_models), 2, "C4 (claim: DP noise raises the adversarial loss faster than the clean loss)"
    )
    synthetic = table["dataset"].iloc[0] == "synthetic"
    budget_label = "budget (units of the feature norm)" if synthetic else "budget (pixel units)"
    for row, (suffix, name) in zip(axes, threat_models, strict=False):
        for ax, (metric, label) in zip(
            row,
            [
                (f"adversarial_loss{suffix}", f"{name} test loss"),
                (f"adversarial_accuracy{suffix}", f"{name} test accuracy"),
            ],
            strict=False,
        ):
            rows = _with_epsilon_label(_select(table, metric, "all", attacked=True))
            rows = rows.rename(columns={"value": label, "epsilon_label": "target epsilon"})
            sns.pointplot(
                data=rows,
                x="attack_radius",
                y=label,
                hue="target epsilon",
                hue_order=epsilon_order(table),
                errorbar=errorbar,
                markersize=4,
                linewidth=1.2,
                capsize=0.1,
                ax=ax,
                palette="viridis",
            )
            ax.set_xlabel(budget_label)
        row[0].set_yscale("log")
    return fig


def real_pretraining_shift(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C5 on images: scratch versus pre-trained on rotated public images, versus the rotation."""
    return pretraining_shift(table, errorbar, "rotation of the public images (degrees)")


def pretraining_shift(
    table: pd.DataFrame, errorbar, shift_label: str = "feature shift angle theta (degrees)"
) -> plt.Figure:
    """C5: test accuracy versus public/private feature shift, scratch versus pre-trained."""
    rows = _select(table, "test_accuracy", "all")
    epsilons = sorted(rows["epsilon"].unique(), reverse=True)
    fig, axes = _grid(
        1, len(epsilons), "C5 (claim: the gain of public pre-training shrinks as the feature shift grows)"
    )
    for ax, epsilon in zip(axes[0], epsilons, strict=False):
        _points(
            ax,
            rows[rows["epsilon"] == epsilon].rename(columns={"value": "test accuracy"}),
            "shift_angle",
            "test accuracy",
            "init",
            errorbar,
        )
        ax.set_title(f"epsilon {epsilon_label(epsilon)}", fontsize=9)
        ax.set_xlabel(shift_label)
    return fig


def mitigations(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C6: test loss and measured FNR versus epsilon, by augmentation multiplicity and frozen fraction."""
    sweeps = [
        (s, c)
        for s, c in (("augmentation", "augmentation_multiplicity"), ("freezing", "frozen_fraction"))
        if s in set(table["sweep"])
    ]
    fig, axes = _grid(
        len(sweeps), 2, "C6 (claim: augmentation multiplicity and freezing raise the FNR and reduce the harm)"
    )
    for row, (sweep, column) in zip(axes, sweeps, strict=False):
        _versus_epsilon(
            row[0], table, _select(table, "test_loss", "all", sweep), "test loss", column, errorbar, f"sweep: {sweep}"
        )
        _versus_epsilon(
            row[1],
            table,
            _select(table, "fnr_measured", "class0", sweep),
            "measured FNR (class 0)",
            column,
            errorbar,
            f"sweep: {sweep}",
        )
        row[0].set_yscale("log")
        row[1].set_yscale("log")
    return fig


def real_class_imbalance(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C2 on images: accuracy of the reduced (last) class and the mean of the others versus epsilon."""
    rows = _select(table, "test_accuracy")
    classes = sorted(
        (g for g in rows["group"].unique() if g.startswith("class") and "/" not in g),
        key=lambda g: int(g.removeprefix("class")),
    )
    rows = rows[rows["group"].isin(classes)]
    rows = rows.assign(**{"class": np.where(rows["group"] == classes[-1], "reduced class", "other classes (mean)")})
    rows = rows.groupby(["class", "seed", "epsilon", "minority_fraction"], as_index=False)["value"].mean()
    return _accuracy_panels(
        table,
        rows,
        "minority_fraction",
        "class",
        lambda v: f"reduced class keeps {v:.0%}",
        "C2 on images (claim: under DP the reduced class loses far more accuracy)",
        errorbar,
    )


def real_long_tail(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C3 on images: head and tail source of class 0 versus epsilon, per tail frequency."""
    rows = _select(table, "test_accuracy")
    rows = rows[rows["group"].isin(["class0/head", "class0/tail"])]
    return _accuracy_panels(
        table,
        rows,
        "tail_frequency",
        "group",
        lambda v: f"tail frequency {v:g}",
        "C3 on images (claim: DP hurts the rare source of a class more)",
        errorbar,
    )


def transition_threshold(fnr: np.ndarray, accurate: np.ndarray) -> float:
    """The FNR cut that best separates accurate groups (above) from the rest (below)."""
    order = np.argsort(fnr)
    fnr, accurate = fnr[order], accurate[order].astype(int)
    # errors if the cut sits before index i: accurate ones below it + inaccurate ones above it
    errors = np.concatenate([[0], np.cumsum(accurate)]) + np.concatenate([np.cumsum((1 - accurate)[::-1])[::-1], [0]])
    best = int(np.argmin(errors))
    if best == 0:
        return float(fnr[0])
    if best == len(fnr):
        return float(fnr[-1])
    return float(np.sqrt(fnr[best - 1] * fnr[best]))


def fnr_transition(table: pd.DataFrame, errorbar, accuracy_level: float = 0.95) -> plt.Figure:
    """C1: test loss against FNR pooled over every synthetic run and group, measured and predicted."""
    fig, axes = _grid(1, 2, "C1: test loss is governed by the FNR (every synthetic run and group, DP and non-private)")
    data = table.assign(regime=np.where(np.isinf(table["epsilon"]), "non-private", "DP"))
    for ax, column in zip(axes[0], ["fnr_measured", "fnr_predicted"], strict=False):
        rows = data[data[column] > 0]
        sns.scatterplot(data=rows, x=column, y="test_loss", hue="experiment", style="regime", s=14, alpha=0.7, ax=ax)
        threshold = transition_threshold(rows[column].to_numpy(), (rows["test_accuracy"] >= accuracy_level).to_numpy())
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
        ax.annotate(
            f"accuracy >= {accuracy_level:.0%}\nabove FNR ~ {threshold:.3g}",
            (threshold, 0.98),
            xycoords=("data", "axes fraction"),
            ha="left",
            va="top",
            fontsize=8,
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(column.replace("_", " "))
        ax.legend(fontsize=6)
    return fig


def privacy_audit(table: pd.DataFrame, errorbar) -> plt.Figure:
    """Accountant epsilon versus the audit's empirical lower bound, per mechanism."""
    fig, axes = _grid(1, 1, "Privacy audit: an empirical lower bound must never beat the accountant")
    ax = axes[0][0]
    long = table.melt(
        id_vars=["mechanism"],
        value_vars=["epsilon_accountant", "epsilon_lower_bound"],
        var_name="epsilon",
        value_name="value",
    )
    long["epsilon"] = long["epsilon"].map(
        {"epsilon_accountant": "accountant (claimed)", "epsilon_lower_bound": "audit lower bound"}
    )
    sns.barplot(data=long, x="mechanism", y="value", hue="epsilon", ax=ax, palette="viridis")
    ax.set_ylabel("epsilon")
    confidence, trials = table["confidence"].iloc[0], table["n_trials"].iloc[0]
    ax.set_title(f"lower bounds at {confidence:.0%} confidence, {trials} trainings per mechanism", fontsize=9)
    return fig


def draw(name: str, table: pd.DataFrame, pdf_path, png_path, confidence: float) -> None:
    """Draw figure `name` from its table into a PDF and a PNG."""
    from dpharm.experiments import REGISTRY

    figure = REGISTRY[name].draw(table, interval_of(confidence))
    for path, fmt in ((pdf_path, "pdf"), (png_path, "png")):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
    plt.close(figure)
