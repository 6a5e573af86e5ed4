"""Reference tests of the measurements: PGD, group means, FNRs and the tidy-table helpers.

Every expected value is derived by hand (see the comments) or by a small independent
computation in the test itself, never copied from a run of the code under test.
"""

import math
import os

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dpharm.io import CorruptFileError
from dpharm.jobs.tables import read_result_table
from dpharm.measurement.fnr import filter_fnr
from dpharm.measurement.metrics import group_means, pgd
from dpharm.measurement.tables import (
    KEY_COLUMNS,
    ROW_COLUMNS,
    aggregate,
    check_rows,
    dp_changes,
    fnr_transition,
    read_evaluation,
    read_table,
)
from dpharm.training.model import TwoLayerPatchCNN, build_model, set_filter_bank


def patch_cnn(
    dimension: int, num_classes: int, *, width: int, init_std: float, frozen_fraction: float, seed: int
) -> TwoLayerPatchCNN:
    """`build_model` from a model section: a ModelSettings where the package has them, else the dict."""
    section = {"width": width, "init_std": init_std, "frozen_fraction": frozen_fraction}
    try:
        from dpharm.training.settings import ModelSettings
    except ImportError:  # before the typed settings: build_model reads the config dict
        return build_model(section, dimension, num_classes, seed)
    return build_model(ModelSettings(**section), dimension, num_classes, seed)


# ---------------------------------------------------------------------------------------------
# PGD


class Linear(nn.Module):
    """logits = x.flatten(1) @ W^T: a linear model whose worst-case perturbation is known."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T


@pytest.mark.parametrize("step_size", [0.3, 3.0])
@pytest.mark.parametrize(("norm", "radius"), [("l2", 0.7), ("linf", 0.1)])
def test_pgd_perturbation_stays_in_its_ball(norm, radius, step_size):
    """PGD on the patch CNN never leaves the l2 / l_inf ball, whatever the step size."""
    torch.manual_seed(0)
    model = patch_cnn(6, 3, width=3, init_std=0.5, frozen_fraction=0.0, seed=1)
    x = torch.randn(16, 4, 6)
    y = torch.randint(0, 3, (16,))
    delta = pgd(model, x, y, radius, steps=7, step_size=step_size, norm=norm) - x
    assert delta.abs().max() > 0  # the attack did move the inputs
    if norm == "l2":
        assert (delta.flatten(1).norm(dim=1) <= radius * (1 + 1e-5)).all()
    else:
        assert delta.abs().max() <= radius + 1e-6


@pytest.mark.parametrize(("norm", "radius"), [("l2", 0.6), ("linf", 0.05)])
def test_pgd_finds_the_worst_case_of_a_linear_model(norm, radius):
    """On a 2-class linear model PGD reaches the closed-form optimum and its loss."""
    generator = torch.Generator().manual_seed(3)
    n, patches, d = 12, 3, 5
    weight = torch.randn(2, patches * d, generator=generator, dtype=torch.float64)
    x = torch.randn(n, patches, d, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 2, (n,), generator=generator)
    model = Linear(weight)

    x_adv = pgd(model, x, y, radius, steps=20, step_size=0.25, norm=norm)

    # Cross-entropy of 2 classes is log(1 + exp(-margin)), margin = <w_y - w_other, x>: it is maximised by
    # lowering the margin as far as the ball allows, i.e. moving x against v = w_y - w_other.
    w = weight.numpy()
    v = w[y.numpy()] - w[1 - y.numpy()]  # (n, patches * d)
    if norm == "l2":
        optimum = -radius * v / np.linalg.norm(v, axis=1, keepdims=True)
    else:
        optimum = -radius * np.sign(v)
    np.testing.assert_allclose((x_adv - x).flatten(1).numpy(), optimum, atol=1e-9)

    margin = (v * x.flatten(1).numpy()).sum(axis=1)
    dual_norm = np.linalg.norm(v, axis=1) if norm == "l2" else np.abs(v).sum(axis=1)  # <v, optimum> = -r ||v||_*
    worst_loss = np.logaddexp(0.0, -(margin - radius * dual_norm))
    with torch.no_grad():
        loss = nn.functional.cross_entropy(model(x_adv), y, reduction="none").numpy()
    np.testing.assert_allclose(loss, worst_loss, rtol=1e-9)
    assert (worst_loss > np.logaddexp(0.0, -margin)).all()  # the attack hurts


# ---------------------------------------------------------------------------------------------
# Group means


def test_group_means_weight_subpopulations_by_frequency_not_test_counts():
    """Class means weight subpopulations by p_{c,s}; 'all' averages classes; p = 0 is skipped."""
    groups = {  # (class, subpopulation): per-example values, unequal counts
        (0, 0): [1.0, 2.0, 3.0],  # mean 2
        (0, 1): [10.0, 20.0, 30.0, 40.0, 50.0],  # mean 30
        (1, 0): [4.0, 6.0],  # mean 5
        (1, 1): [1000.0, 2000.0],  # frequency 0: must not count
    }
    frequencies = np.array([[0.75, 0.25], [1.0, 0.0]])
    labels = np.concatenate([[c] * len(v) for (c, _), v in groups.items()])
    subpops = np.concatenate([[s] * len(v) for (_, s), v in groups.items()])
    values = np.concatenate(list(groups.values()))
    order = np.random.default_rng(0).permutation(len(values))

    means = group_means(values[order], labels[order], subpops[order], frequencies)

    class0 = 0.75 * 2 + 0.25 * 30  # 9; the naive mean of its 8 examples would be 19.5
    class1 = 5.0
    expected = {
        "class0/head": 2.0,
        "class0/tail": 30.0,
        "class0": class0,
        "class1/head": 5.0,
        "class1": class1,
        "all": (class0 + class1) / 2,
    }
    assert means.keys() == expected.keys()
    for group, value in expected.items():
        assert means[group] == pytest.approx(value), group


def test_group_means_without_subpopulations_balance_the_classes():
    """With one subpopulation there are no subgroup keys and 'all' is the mean of class means."""
    values = np.array([1.0, 3.0, 10.0, 0.0, 0.0, 0.0, 6.0])
    labels = np.array([0, 0, 1, 2, 2, 2, 2])
    means = group_means(values, labels, np.zeros(7, dtype=int), np.ones((3, 1)))
    expected = {"class0": 2.0, "class1": 10.0, "class2": 1.5, "all": (2.0 + 10.0 + 1.5) / 3}  # not 20/7
    assert means.keys() == expected.keys()
    for group, value in expected.items():
        assert means[group] == pytest.approx(value), group


# ---------------------------------------------------------------------------------------------
# FNR

# Three classes, one subpopulation, d = 9: u_c on coordinates 0-2, public directions on coordinates 3-5,
# so k = 6 and the noise lives on coordinates 6-8 (d - k = 3). Large weights on 3-5 must not count in sigma_w.
FEATURES = np.zeros((3, 1, 9))
FEATURES[0, 0, 0], FEATURES[1, 0, 1], FEATURES[2, 0, 2] = 2.0, 3.0, 1.0
BANK = torch.tensor(
    [  # (classes, width, d): feature coordinates | public coordinates | free coordinates
        [[1.0, 0.5, 0.0, 5.0, -5.0, 0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 1.0, 0.0, 5.0, 5.0, 0.0, 2.0, 0.0]],
        [[0.2, 1.0, 0.5, -5.0, 5.0, 5.0, 0.0, 0.0, -2.0], [0.4, -1.0, 0.0, 5.0, 5.0, -5.0, 1.0, 1.0, 0.0]],
        [[0.8, 0.0, 2.0, 5.0, 0.0, 5.0, 0.0, 0.0, 1.0], [0.0, 2.0, -1.0, -5.0, -5.0, 5.0, 1.0, 0.0, 1.0]],
    ]
)


@pytest.mark.parametrize("frozen_fraction", [0.0, 0.5])
def test_filter_fnr_matches_a_hand_computation(frozen_fraction):
    """Per-filter FNR = filter-averaged ReLU margin / (sigma_p sqrt(d - k) sigma_w), frozen filters included."""
    model = patch_cnn(9, 3, width=2, init_std=0.5, frozen_fraction=frozen_fraction, seed=0)
    set_filter_bank(model, BANK)

    fnr = filter_fnr(model, FEATURES, span_size=6, noise_std=0.5)

    # Mean over the 2 filters of ReLU(<w_{c',r}, u_c>) per class c' (own class first):
    #   u_0 = 2 e_0: class 0 (2 + 0)/2 = 1,   class 1 (0.4 + 0.8)/2 = 0.6, class 2 (1.6 + 0)/2 = 0.8 -> margin 0.2
    #   u_1 = 3 e_1: class 1 (3 + 0)/2 = 1.5, class 0 (1.5 + 0)/2 = 0.75, class 2 (0 + 6)/2 = 3   -> margin -1.5
    #   u_2 = 1 e_2: class 2 (2 + 0)/2 = 1,   class 0 (0 + 1)/2 = 0.5,   class 1 (0.5 + 0)/2 = 0.25 -> margin 0.5
    # Coordinates 6-8: squares 1 + 4 + 4 + 2 + 1 + 2 = 14 over 6 filters x 3 coordinates: sigma_w^2 = 14/18 = 7/9.
    # Denominator: 0.5 * sqrt(3) * sqrt(7)/3 = sqrt(21)/6.
    expected = {(0, 0): 0.2, (1, 0): -1.5, (2, 0): 0.5}
    assert fnr.keys() == expected.keys()
    for group, margin in expected.items():
        assert fnr[group] == pytest.approx(6 * margin / math.sqrt(21), rel=1e-6), group


# ---------------------------------------------------------------------------------------------
# Tables

LABELS = ["sweep", "feature_norm", "epsilon"]


def tidy(rows: list[dict]) -> pd.DataFrame:
    """Rows in the evaluation-table layout; identity columns not given take fixed values."""
    defaults = {
        "experiment": "c1",
        "dataset": "synthetic",
        "epsilon_spent": 0.0,
        "delta": 1e-5,
        "accountant": "rdp",
        "sweep": "feature_norm",
        "attack_radius": math.nan,
    }
    full = []
    for row in rows:
        private = math.isfinite(row["epsilon"])
        row = {
            **defaults,
            "epsilon_spent": row["epsilon"] if private else math.inf,
            "noise_multiplier": 1.0 if private else 0.0,
            "condition": f"feature_norm__feature_norm={row['feature_norm']:g}__epsilon={row['epsilon']:g}",
            **row,
        }
        full.append(row)
    return pd.DataFrame(full, columns=KEY_COLUMNS + ["sweep", "feature_norm"] + ROW_COLUMNS)


INF = math.inf
RUNS = tidy(
    [
        # baselines: feature norm 1 and 2, seed 0
        {"seed": 0, "epsilon": INF, "feature_norm": 1.0, "group": "all", "metric": "test_loss", "value": 0.5},
        {"seed": 0, "epsilon": INF, "feature_norm": 1.0, "group": "all", "metric": "test_accuracy", "value": 0.875},
        {"seed": 0, "epsilon": INF, "feature_norm": 1.0, "group": "class0", "metric": "test_loss", "value": 0.25},
        {"seed": 0, "epsilon": INF, "feature_norm": 2.0, "group": "all", "metric": "test_loss", "value": 0.125},
        {
            "seed": 0,
            "epsilon": INF,
            "feature_norm": 1.0,
            "group": "all",
            "metric": "adversarial_loss",
            "attack_radius": 0.5,
            "value": 2.0,
        },
        # private runs with a baseline
        {"seed": 0, "epsilon": 1.0, "feature_norm": 1.0, "group": "all", "metric": "test_loss", "value": 0.75},
        {"seed": 0, "epsilon": 1.0, "feature_norm": 1.0, "group": "all", "metric": "test_accuracy", "value": 0.625},
        {"seed": 0, "epsilon": 1.0, "feature_norm": 1.0, "group": "class0", "metric": "test_loss", "value": 1.0},
        {"seed": 0, "epsilon": 4.0, "feature_norm": 2.0, "group": "all", "metric": "test_loss", "value": 0.625},
        {
            "seed": 0,
            "epsilon": 1.0,
            "feature_norm": 1.0,
            "group": "all",
            "metric": "adversarial_loss",
            "attack_radius": 0.5,
            "value": 3.0,
        },
        # private runs without a baseline: another seed, another feature norm, another group
        {"seed": 1, "epsilon": 1.0, "feature_norm": 1.0, "group": "all", "metric": "test_loss", "value": 9.0},
        {"seed": 0, "epsilon": 1.0, "feature_norm": 4.0, "group": "all", "metric": "test_loss", "value": 9.0},
        {"seed": 0, "epsilon": 1.0, "feature_norm": 1.0, "group": "class1", "metric": "test_loss", "value": 9.0},
    ]
)
# (seed, epsilon, feature_norm, group, change metric) -> private minus non-private
EXPECTED_CHANGES = {
    (0, 1.0, 1.0, "all", "test_loss_change"): 0.75 - 0.5,
    (0, 1.0, 1.0, "all", "test_accuracy_change"): 0.625 - 0.875,
    (0, 1.0, 1.0, "class0", "test_loss_change"): 1.0 - 0.25,
    (0, 4.0, 2.0, "all", "test_loss_change"): 0.625 - 0.125,
}


def change_values(frame: pd.DataFrame) -> dict:
    keys = zip(frame["seed"], frame["epsilon"], frame["feature_norm"], frame["group"], frame["metric"], strict=True)
    return dict(zip(keys, frame["value"], strict=True))


def test_dp_changes_subtract_the_matching_nonprivate_run():
    """Changes are private minus non-private on the same seed, group and labels; unmatched rows yield none."""
    changes = dp_changes(RUNS, LABELS)
    assert list(changes.columns) == list(RUNS.columns)
    assert len(changes) == len(EXPECTED_CHANGES)
    assert change_values(changes) == pytest.approx(EXPECTED_CHANGES)
    assert np.isfinite(changes["epsilon"]).all()
    assert (changes["noise_multiplier"] == 1.0).all()  # identity of the private run
    assert changes["condition"].str.endswith("__epsilon=1").sum() == 3
    assert changes["attack_radius"].isna().all()


def test_dp_changes_without_any_nonprivate_run_are_empty():
    """A table without an epsilon = inf run has no changes (and keeps its columns)."""
    changes = dp_changes(RUNS[np.isfinite(RUNS["epsilon"])], LABELS)
    assert changes.empty
    assert list(changes.columns) == list(RUNS.columns)


def test_aggregate_appends_the_changes_and_sorts(tmp_path):
    """Two evaluation CSVs concatenate, gain their dp-change rows and come out sorted."""
    paths = []
    for i, part in enumerate([RUNS.iloc[::2], RUNS.iloc[1::2]]):  # split so that baselines sit in both files
        paths.append(tmp_path / f"evaluation{i}.csv")
        part.iloc[::-1].to_csv(paths[-1], index=False)

    table = aggregate([pd.read_csv(p) for p in paths], LABELS)

    assert len(table) == len(RUNS) + len(EXPECTED_CHANGES)
    changes = table[table["metric"].str.endswith("_change")]
    assert change_values(changes) == pytest.approx(EXPECTED_CHANGES)
    assert math.inf in set(table["epsilon"])  # 'inf' survives the CSV round trip
    identity = table[["group", "class", "subpopulation"]].drop_duplicates().set_index("group")
    assert identity.loc["class0", "class"] == 0 and pd.isna(identity.loc["class0", "subpopulation"])
    assert pd.isna(identity.loc["all", "class"])
    keys = [
        (c, s, m, g, math.inf if math.isnan(r) else r)  # NaN radii sort last
        for c, s, m, g, r in zip(
            table["condition"], table["seed"], table["metric"], table["group"], table["attack_radius"], strict=True
        )
    ]
    assert keys == sorted(keys)


def test_aggregate_rejects_a_table_without_label_columns(tmp_path):
    """An evaluation CSV lacking a label column is reported as corrupt."""
    path = tmp_path / "evaluation.csv"
    RUNS.drop(columns=["feature_norm"]).to_csv(path, index=False)
    with pytest.raises(CorruptFileError, match="feature_norm"):
        aggregate([pd.read_csv(path)], LABELS)


# A training job's complete evaluation table: two conditions (non-private and epsilon 1) at two
# seeds, two groups and two metrics each.
JOB_CONDITIONS = ["feature_norm__feature_norm=1__epsilon=inf", "feature_norm__feature_norm=1__epsilon=1"]
JOB_SEEDS = [0, 1]
JOB = tidy(
    [
        {"seed": seed, "epsilon": epsilon, "feature_norm": 1.0, "group": group, "metric": metric, "value": 0.5}
        for epsilon in (INF, 1.0)
        for seed in JOB_SEEDS
        for group in ("all", "class0")
        for metric in ("test_loss", "test_accuracy")
    ]
)


def written(tmp_path, table: pd.DataFrame) -> str:
    path = tmp_path / "evaluation.csv"
    table.to_csv(path, index=False)
    return str(path)


def test_read_evaluation_accepts_the_planned_runs(tmp_path):
    table = read_evaluation(written(tmp_path, JOB), JOB_CONDITIONS, JOB_SEEDS)
    assert len(table) == len(JOB) == 16


def overspent(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table.loc[table["epsilon"] == 1.0, "epsilon_spent"] = 1.01
    return table


def without_seed(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["seed"] != 1]


def with_empty_seed(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table.loc[3, "seed"] = math.nan
    return table


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.iloc[:-1], "unequal row counts"),  # cut at a line
        (without_seed, "differ from the plan"),
        (lambda t: pd.concat([t, t.iloc[[5]]]), "more than once"),
        (with_empty_seed, "empty key values in \\['seed'\\]"),
        (overspent, "spent epsilon 1.01 over its target"),
    ],
    ids=["line_cut", "seed_missing", "duplicate", "nan_key", "overspent"],
)
def test_read_evaluation_refuses_an_edited_table_naming_it(tmp_path, edit, message):
    """A damaged evaluation file is refused by name and removed, so that a plain rerun remakes it."""
    path = written(tmp_path, edit(JOB))
    with pytest.raises(CorruptFileError, match=message) as error:
        read_evaluation(path, JOB_CONDITIONS, JOB_SEEDS)
    assert path in str(error.value) and "removed it, so that a plain rerun remakes it" in str(error.value)
    assert not os.path.exists(path)


def damaged(tmp_path, edit) -> str:
    path = written(tmp_path, JOB)
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(edit(text))
    return path


DAMAGE = [
    (lambda text: text[:-5], "the last line is cut short"),  # the last value loses its digits, the line its end
    (lambda text: text.replace(",0.5\n", ",\n", 1), "value at line 2 is blank"),
    (lambda text: text.replace(",0.5\n", ",0.5.1\n", 1), "value '0.5.1' at line 2 is not a number"),
    (lambda text: text.replace(",0.5\n", "\n", 1), "line 2 has 14 fields where the header has 15"),
    (lambda text: "", "the table is empty"),
]


@pytest.mark.parametrize("edit, message", DAMAGE, ids=["cut_mid_line", "blank", "text", "short_line", "empty"])
def test_read_evaluation_refuses_a_damaged_file_and_removes_it(tmp_path, edit, message):
    path = damaged(tmp_path, edit)
    with pytest.raises(CorruptFileError, match=message) as error:
        read_evaluation(path, JOB_CONDITIONS, JOB_SEEDS)
    assert str(error.value).startswith(f"{path}: ") and not os.path.exists(path)


def test_a_blank_predicted_fnr_is_no_damage(tmp_path):
    """The predicted FNR is blank by design where its closed form does not apply."""
    table = JOB.assign(metric=JOB["metric"].replace({"test_loss": "fnr_predicted"}), value=math.nan)
    table.loc[table["metric"] == "test_accuracy", "value"] = 0.5
    assert read_table(written(tmp_path, table))["value"].isna().sum() == len(table) // 2


def test_read_table_names_a_relative_path_absolutely(tmp_path, monkeypatch):
    """A job runs in the configuration's working folder (runs/small): a relative path would point elsewhere."""
    path = damaged(tmp_path, lambda text: text[:-5])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorruptFileError) as error:
        read_table("evaluation.csv")
    assert str(error.value).startswith(f"{path}: ") and "delete it and rerun" in str(error.value)


def test_a_committed_table_with_an_overspent_run_is_refused_by_name():
    """The claims read committed tables too: `check_rows` refuses an edited one."""
    with pytest.raises(CorruptFileError, match="results/tables/x.csv: .* over its target"):
        check_rows(overspent(JOB), "results/tables/x.csv")
    check_rows(JOB, "results/tables/x.csv")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.iloc[:-1], "unequal row counts"),  # cut at a line boundary
        (lambda t: t[t["condition"] != JOB_CONDITIONS[0]], "runs differ from the plan"),
        (lambda t: t.assign(value=t["value"].astype(object)).replace({"value": {0.5: "x"}}), "not a number"),
    ],
    ids=["line_cut", "condition_missing", "text"],
)
def test_a_damaged_committed_table_is_refused_saying_how_to_restore_it(tmp_path, edit, message):
    path = written(tmp_path, edit(JOB))
    with pytest.raises(CorruptFileError, match=message) as error:
        read_result_table(path, committed=True, conditions=JOB_CONDITIONS)
    assert f"restore it with `git checkout -- {path}`" in str(error.value) and os.path.exists(path)
    assert len(read_result_table(written(tmp_path, JOB), committed=True, conditions=JOB_CONDITIONS)) == len(JOB)


def test_fnr_transition_pivots_one_row_per_run_and_group():
    """Synthetic runs become one row per run and group with an FNR (each model once); others are dropped."""
    index = ["experiment", "sweep", "condition", "seed", "epsilon", "group"]
    expected = pd.DataFrame(
        [
            ["c1", "width", "width__width=4__epsilon=inf", 0, INF, "class0", 3.0, 3.1, 0.3, 4.0, 0.125, 1.0],
            ["c1", "width", "width__width=4__epsilon=inf", 0, INF, "class1", 2.5, 2.6, 0.2, 3.5, 0.25, 0.875],
            ["c1", "width", "width__width=4__epsilon=1", 0, 1.0, "class0", 0.5, 0.6, 0.05, 1.5, 0.75, 0.5],
            ["c1", "width", "width__width=4__epsilon=1", 0, 1.0, "class1", 0.25, 0.2, 0.02, 1.25, 1.0, 0.375],
        ],
        columns=index + ["fnr_measured", "fnr_weights", "fnr_filter", "fnr_predicted", "test_loss", "test_accuracy"],
    )
    long = expected.melt(id_vars=index, var_name="metric", value_name="value").assign(attack_radius=math.nan)
    runs = expected[index[:-1]].drop_duplicates()
    extra = pd.concat(
        [
            runs.assign(group="all", metric="test_loss", value=0.5, attack_radius=math.nan),  # no FNR: dropped
            runs.assign(
                group="all", metric="adversarial_loss", value=5.0, attack_radius=0.5
            ),  # not a transition metric
            runs.assign(group="class0", metric="test_loss", value=7.0, attack_radius=0.5),  # an attacked row
        ]
    )
    synthetic = pd.concat([long, extra], ignore_index=True).sample(frac=1.0, random_state=0).assign(dataset="synthetic")
    images = long.assign(experiment="real_c2", dataset="mnist")  # non-synthetic: dropped even with an FNR
    duplicate = long.assign(experiment="c4", dataset="synthetic")  # the same models in another experiment: kept once

    wide = fnr_transition([synthetic, images, duplicate])
    expected.insert(1, "dataset", "synthetic")

    assert list(wide.columns) == list(expected.columns)
    wide = wide.sort_values(["epsilon", "group"], ascending=[False, True], ignore_index=True)
    pd.testing.assert_frame_equal(wide, expected, check_dtype=False)
