"""The paper's figures, one function per experiment, each drawn only from its table.

Each takes the tidy table and `errorbar` (the claims' interval, `dpharm.reporting.plots.interval_of`).
"""

from __future__ import annotations

import math
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from dpharm.claims.effects import table_classes
from dpharm.data.groups import ALL, group_name, head, tail
from dpharm.reporting.plots import (
    EPSILON_AXIS,
    IN_WORDS,
    POINT_STYLE,
    accuracy_panels,
    epsilon_label,
    epsilon_order,
    frame_the_means,
    grid,
    group_in_words,
    hide_unused,
    interval_of,
    points,
    select,
    versus_epsilon,
    with_epsilon_label,
    within_range,
)

# The subpopulations of class 0 in the long-tail figures, in words.
SUBPOPULATIONS = {head(): "class 0, head", tail(): "class 0, long tail"}
# utility_vs_noise's sweeps: the column each varies, and the panel title.
C1_SWEEPS = {
    "feature_norm": ("feature_norm", "sweep of the feature norm"),
    "width": ("width", "sweep of the width m, fixed learning rate"),
    "width_scaled_lr": ("width", "sweep of the width m, learning rate 0.5 m"),
    "n_train": ("n_train", "sweep of the training examples n"),
}


def utility_vs_noise(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C1: loss, accuracy and measured FNR versus epsilon, by feature norm, width and n."""
    sweeps = [s for s in C1_SWEEPS if s in set(table["sweep"])]
    fig, axes = grid(
        len(sweeps),
        3,
        "C1 (claim: DP noise lowers the feature-to-noise ratio (FNR) and raises the error; worse for weak "
        "features and less data; the width sweep, at a fixed learning rate, is a finding)",
    )
    for row, sweep in zip(axes, sweeps, strict=False):
        panels = [
            ("test_loss", ALL, "test loss"),
            ("test_accuracy", ALL, "test accuracy"),
            ("fnr_measured", group_name(0), "measured FNR (class 0)"),
        ]
        for ax, (metric, group, label) in zip(row, panels, strict=False):
            log = metric == "test_loss"
            rows = select(table, metric, group, sweep)
            column, title = C1_SWEEPS[sweep]
            versus_epsilon(ax, rows, label, column, errorbar, title, log)
        row[2].set_yscale("log")
    return fig


def class_imbalance(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C2: per-class test accuracy versus epsilon, one panel per imbalance ratio."""
    rows = select(table, "test_accuracy")
    names = {group_name(0): "class 0 (majority)", group_name(1): "class 1 (minority)"}
    rows = rows[rows["group"].isin(names)]
    rows = rows.assign(**{"class": rows["group"].map(names)})
    return accuracy_panels(
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
    fig, axes = grid(len(sweeps), width, "C3 (claim: DP hurts the long-tailed subpopulation more than the head)")
    for row, (sweep, column) in zip(axes, sweeps, strict=False):
        rows = select(table, "test_accuracy", sweep=sweep)
        rows = rows[rows["group"].isin(SUBPOPULATIONS)].assign(group=lambda t: t["group"].map(SUBPOPULATIONS))
        for ax, value in zip(row, sorted(rows[column].unique()), strict=False):
            title = f"{IN_WORDS[column]} {value:g}"
            versus_epsilon(ax, rows[rows[column] == value], "test accuracy", "group", errorbar, title)
    hide_unused(axes)
    return fig


def adversarial(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C4: adversarial loss and accuracy versus the attack budget, one line per epsilon."""
    threat_models = [
        (suffix, name)
        for suffix, name in (("", "PGD-l2"), ("_linf", "PGD-linf"))
        if f"adversarial_loss{suffix}" in set(table["metric"])
    ]
    fig, axes = grid(len(threat_models), 2, "C4 (claim: DP costs more accuracy under attack than on clean data)")
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
            log = "loss" in metric
            selected = select(table, metric, ALL, attacked=True)
            rows = with_epsilon_label(selected).rename(columns={"value": label, "epsilon_label": EPSILON_AXIS})
            sns.pointplot(
                data=rows,
                x="attack_radius",
                y=label,
                hue=EPSILON_AXIS,
                hue_order=epsilon_order(selected),
                errorbar=within_range(errorbar, selected),
                dodge=0.3 if selected["epsilon"].nunique() > 1 else False,  # close epsilons would overlap
                ax=ax,
                **POINT_STYLE,
            )
            ax.set_xlabel(budget_label)
            budgets = [float(t.get_text()) for t in ax.get_xticklabels()]
            # fractions of the feature norm read (and fit) better than 0.0625
            ax.set_xticks(
                ax.get_xticks(), [str(Fraction(b).limit_denominator(64)) if synthetic else f"{b:g}" for b in budgets]
            )
            ax.tick_params(axis="x", labelsize=7)
            if log:
                frame_the_means(ax, rows.groupby(["attack_radius", EPSILON_AXIS])[label].mean())
    return fig


def real_pretraining_shift(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C5 on images: scratch versus pre-trained on rotated public images, versus the rotation."""
    return pretraining_shift(table, errorbar, "rotation of the public images (degrees)")


def pretraining_shift(
    table: pd.DataFrame, errorbar, shift_label: str = "feature shift angle theta (degrees)"
) -> plt.Figure:
    """C5: test accuracy versus public/private feature shift, scratch versus pre-trained."""
    rows = select(table, "test_accuracy", ALL)
    epsilons = sorted(rows["epsilon"].unique(), reverse=True)
    fig, axes = grid(
        1, len(epsilons) + 1, "C5 (claim: the gain of public pre-training shrinks as the feature shift grows)"
    )
    for ax, epsilon in zip(axes[0], epsilons, strict=False):
        points(
            ax,
            rows[rows["epsilon"] == epsilon].rename(columns={"value": "test accuracy"}),
            "shift_angle",
            "test accuracy",
            "init",
            interval_of(errorbar.confidence, 0, 1),
        )
        ax.set_title(f"epsilon {epsilon_label(epsilon)}", fontsize=9)
        ax.set_xlabel(shift_label)
    paired_gain_panel(axes[0][-1], rows, "shift_angle", errorbar)
    axes[0][-1].set_xlabel(shift_label)
    return fig


GAIN = "pre-training gain (accuracy points)"


def paired_gain_panel(ax, rows: pd.DataFrame, x: str, errorbar, order=None) -> None:
    """C5's statistic as its tests compute it: per seed, pre-trained minus scratch accuracy (the
    same seed's data and start), its mean and interval over seeds, one line per epsilon."""
    wide = rows.pivot_table(index=["seed", "epsilon", x], columns="init", values="value", aggfunc="first")
    gains = (100 * (wide["pretrained"] - wide["scratch"])).rename(GAIN).reset_index()
    gains = gains.sort_values("epsilon", ascending=False, kind="stable")  # legend: non-private first
    points(ax, with_epsilon_label(gains), x, GAIN, "epsilon_label", errorbar, order)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_title("the gain, paired by seed", fontsize=9)


PUBLIC_DATA = "public data (growing shift)"


def _public_data(row: pd.Series) -> str:
    """The public data in words, on two lines so that the tick labels stay apart unrotated."""
    if row["sweep"] == "other_dataset":
        return "digits,\nupscaled"
    return "held-out\nimages" if row["shift_angle"] == 0 else f"rotated\n{row['shift_angle']:g} degrees"


def public_data_shift(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C5 with public data of another data set: scratch versus pre-trained, versus the public data."""
    rows = select(table, "test_accuracy", ALL)
    rows = rows.assign(**{PUBLIC_DATA: rows.apply(_public_data, axis=1)})
    order = sorted(rows[PUBLIC_DATA].unique(), key=lambda v: (v.startswith("digits"), not v.startswith("held-out"), v))
    epsilons = sorted(rows["epsilon"].unique(), reverse=True)
    columns = min(3, len(epsilons) + 1)  # panels wrapped into rows of three: a readable width
    fig, axes = grid(math.ceil((len(epsilons) + 1) / columns), columns,
                     "C5 (claim: the gain of public pre-training shrinks as the shift grows)")  # fmt: skip
    panels = list(axes.flat)
    gain_panel = panels[len(epsilons)]
    paired_gain_panel(gain_panel, rows, PUBLIC_DATA, errorbar, order)
    gain_panel.tick_params(axis="x", labelsize=8)
    rows = rows.rename(columns={"value": "test accuracy"})
    for ax, epsilon in zip(panels, epsilons, strict=False):
        at_epsilon = rows[rows["epsilon"] == epsilon]
        points(ax, at_epsilon, PUBLIC_DATA, "test accuracy", "init", within_range(errorbar, rows), order)
        ax.set_title(f"epsilon {epsilon_label(epsilon)}", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    hide_unused(axes)
    return fig


def mitigations(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C6: test accuracy (as its tests judge), loss and measured FNR versus epsilon, per sweep."""
    sweeps = [
        (s, c)
        for s, c in (("augmentation", "augmentation_multiplicity"), ("freezing", "frozen_fraction"))
        if s in set(table["sweep"])
    ]
    fig, axes = grid(
        len(sweeps),
        3,
        "C6 (claim: augmentation multiplicity and freezing raise the feature-to-noise ratio (FNR) and reduce the harm)",
    )
    panels = [
        ("test_accuracy", ALL, "test accuracy", False),
        ("test_loss", ALL, "test loss", True),
        ("fnr_measured", group_name(0), "measured FNR (class 0)", False),
    ]
    for row, (sweep, column) in zip(axes, sweeps, strict=False):
        for ax, (metric, group, label, log) in zip(row, panels, strict=True):
            versus_epsilon(ax, select(table, metric, group, sweep), label, column, errorbar, f"sweep: {sweep}", log)
        row[2].set_yscale("log")
    return fig


def real_class_imbalance(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C2 on images: accuracy of the reduced (last) class and the mean of the others versus epsilon."""
    rows = select(table, "test_accuracy")
    classes = table_classes(rows)
    rows = rows[rows["group"].isin(classes)]
    reduced = f"reduced class ({group_in_words(rows, classes[-1])})"
    rows = rows.assign(**{"class": np.where(rows["group"] == classes[-1], reduced, "other classes (mean)")})
    rows = rows.groupby(["class", "seed", "epsilon", "minority_fraction"], as_index=False)["value"].mean()
    return accuracy_panels(
        rows,
        "minority_fraction",
        "class",
        lambda v: f"reduced class keeps {v:.0%}",
        "C2 on images (claim: under DP the reduced class loses far more accuracy)",
        errorbar,
    )


def real_long_tail(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C3 on images: head and tail source of class 0 versus epsilon, per tail frequency."""
    rows = select(table, "test_accuracy")
    rows = rows[rows["group"].isin(SUBPOPULATIONS)]
    names = {group: f"{SUBPOPULATIONS[group]} ({group_in_words(rows, group)})" for group in SUBPOPULATIONS}
    rows = rows.assign(group=rows["group"].map(names))
    return accuracy_panels(
        rows,
        "tail_frequency",
        "group",
        lambda v: f"tail frequency {v:g}",
        "C3 on images (claim: DP hurts the rare source of a class more)",
        errorbar,
    )


DISTINCT = [sns.color_palette("colorblind")[i] for i in (0, 1, 2, 3, 4, 7, 9, 8)]  # no tan: orange's twin


def fnr_transition(table: pd.DataFrame, errorbar) -> plt.Figure:
    """C1: test error against the FNR, pooled over every private synthetic group (each model once),
    measured and predicted, with the Gaussian-margin law error = Phi(-FNR)."""
    from scipy import stats

    fig, axes = grid(1, 2, "C1: the test error is governed by the feature-to-noise ratio (FNR); "
                           "every private synthetic group")  # fmt: skip
    private = table[np.isfinite(table["epsilon"])].assign(test_error=lambda t: 1 - t["test_accuracy"])
    labels = {"fnr_measured": "measured FNR (margin mean / sd)",
              "fnr_predicted": "predicted FNR (hyper-parameters)"}  # fmt: skip
    curve = np.geomspace(1e-2, 10, 200)
    # one colour and marker per experiment in both panels (some lack a prediction)
    experiments = sorted(private["experiment"].str.replace("_", " ").unique())
    for ax, column in zip(axes[0], labels, strict=True):
        rows = private[private[column] > 0].assign(experiment=lambda t: t["experiment"].str.replace("_", " "))
        sns.scatterplot(
            data=rows, x=column, y="test_error", hue="experiment", hue_order=experiments, style="experiment",
            style_order=experiments, palette=DISTINCT[: len(experiments)], s=14, alpha=0.7, ax=ax,
        )  # fmt: skip
        ax.plot(curve, stats.norm.cdf(-curve), color="black", linewidth=1, label="Phi(-FNR)")
        ax.set_xscale("log")
        ax.set_xlabel(labels[column])
        ax.set_ylabel("test error")
        ax.set_ylim(0, 0.6)
        ax.legend(fontsize=6)
    return fig


def privacy_audit(table: pd.DataFrame, errorbar) -> plt.Figure:
    """Accountant epsilon versus the audit's empirical lower bound, per mechanism."""
    fig, axes = grid(1, 1, "Privacy audit: an empirical lower bound must never beat the accountant")
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
    # mechanisms down the y axis: their names stay apart however many are audited
    fig.set_figheight(1.2 + 0.45 * table["mechanism"].nunique())
    sns.barplot(data=long, x="value", y="mechanism", hue="epsilon", ax=ax, palette="viridis", orient="h")
    ceiling = table["epsilon_ceiling"].iloc[0]
    ax.axvline(ceiling, color="black", linestyle="--", linewidth=1)
    ax.annotate(
        f"ceiling {ceiling:.2f}:\nthe most these\ntrials can show",
        (ceiling, 0.5),
        xycoords=("data", "axes fraction"),
        xytext=(4, 0),
        textcoords="offset points",
        va="center",
        fontsize=7,
    )
    ax.set_xlim(0, ceiling * 1.4)
    ax.set_xlabel("epsilon")
    ax.set_ylabel("")
    confidence, trials = table["confidence"].iloc[0], table["n_trials"].iloc[0]
    ax.set_title(f"lower bounds at {confidence:.0%} confidence, {trials} trainings per mechanism", fontsize=9)
    return fig
