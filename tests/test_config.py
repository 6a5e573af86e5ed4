"""Config validation: every problem is reported before any job runs, naming the key."""

import json
import math

import pytest

from dpharm.setup.config import ConfigError, config_hash, load_yaml, merge
from dpharm.setup.plan import Plan, condition_id
from dpharm.setup.validation import validate_config
from helpers import REPO, copy_workflow, set_key, snakemake


def test_shipped_configurations_are_valid(default_config):
    validate_config(default_config)
    overlays = sorted((REPO / "config").glob("*.yaml"))
    assert len(overlays) >= 4
    for overlay in overlays:
        validate_config(merge(default_config, load_yaml(overlay)))


def test_public_data_from_the_private_source_itself_is_refused(default_config):
    config = set_key(default_config, "experiments.real_pretraining_shift.data.public_source", "digits")
    with pytest.raises(ConfigError, match="public_source': digits is also the private source"):
        validate_config(config)


NAN, INF = math.nan, math.inf

BAD = [
    ("seeds", [], "seeds"),
    ("seeds", [0, 0], "seeds"),
    ("threads", 0, "threads"),
    ("device", "tpu", "device"),
    ("data.feature_norm", -1.0, "data.feature_norm"),
    ("data.imbalance_ratio", 0.5, "data.imbalance_ratio"),
    ("data.n_train", "many", "data.n_train"),
    ("data.tail_frequency", 1.0, "data.tail_frequency"),
    ("data.shift_angle", 120.0, "data.shift_angle"),
    ("training.epsilon", 0.0, "training.epsilon"),
    ("training.delta", 1.0, "training.delta"),
    ("training.accountant", "moments", "training.accountant"),
    ("training.init", "imagenet", "training.init"),
    ("training.learning_rat", 0.1, "training"),
    (
        "experiments.utility_vs_noise.sweeps",
        {"s": {"training.epsilon": [-1.0]}},
        "experiments.utility_vs_noise.sweeps.s.training.epsilon",
    ),
    (
        "experiments.utility_vs_noise.sweeps",
        {"s": {"training.epsilonn": [1.0]}},
        "experiments.utility_vs_noise.sweeps.s.training.epsilonn",
    ),
    ("experiments.utility_vs_noise.sweeps", {"s": {"optimizer.lr": [1.0]}}, "experiments.utility_vs_noise.sweeps.s"),
    ("experiments.utility_vs_noise.sweeps", {}, "experiments.utility_vs_noise.sweeps"),
    (
        "experiments.unknown_experiment",
        {"enabled": True, "sweeps": {"s": {"training.epsilon": [1.0]}}},
        "experiments",
    ),
    ("model.frozen_fraction", 1.0, "model.frozen_fraction"),
    ("training.augmentation_multiplicity", 0, "training.augmentation_multiplicity"),
    ("claims.min_effect", {"noise": 0.1}, "claims.min_effect"),
    ("data.patches", 1, "data.patches"),
    # well-typed but meaningless values (issue 14): refused before any job, naming the key
    (
        "experiments.class_imbalance.sweeps",
        {"main": {"data.imbalance_ratio": [4.0], "training.epsilon": [NAN, 2.0]}},
        "experiments.class_imbalance.sweeps.main.training.epsilon",
    ),
    ("training.clip_norm", INF, "training.clip_norm"),
    ("data.feature_norm", INF, "data.feature_norm"),
    ("training.learning_rate", NAN, "training.learning_rate"),
    ("training.epsilon", -INF, "training.epsilon"),
    ("training.epsilon", 1e-300, "training.epsilon"),
    ("experiments.adversarial.sweeps", {"main": {"training.epsilon": [1e15]}}, "experiments.adversarial.sweeps.main"),
    ("training.delta", 0.5, "experiments.utility_vs_noise.training.delta"),
    ("seeds", [1.0], "seeds"),
    ("seeds", [2**63], "seeds"),
    ("seeds", [True], "seeds"),
    (
        "experiments.real_class_imbalance.sweeps",
        {"main": {"data.classes": [[0, 1], [1, 2]], "training.epsilon": [2.0]}},
        "experiments.real_class_imbalance.sweeps",
    ),
    # counts written as YAML floats (issue 24): JSON Schema calls 40.0 an integer, range() does not
    ("training.steps", 40.0, "training.steps"),
    ("training.batch_size", 32.0, "training.batch_size"),
    ("pretraining.steps", 10.0, "pretraining.steps"),
    ("model.width", 4.0, "model.width"),
    ("data.n_train", 200.0, "data.n_train"),
    ("evaluation.pgd_steps", 5.0, "evaluation.pgd_steps"),
    ("privacy_audit.trials", 40.0, "privacy_audit.trials"),
    ("threads", 1.0, "threads"),
    ("experiments.utility_vs_noise.training", {"steps": 40.0}, "experiments.utility_vs_noise.training.steps"),
    (
        "experiments.utility_vs_noise.sweeps",
        {"s": {"training.steps": [40, 80.0]}},
        "experiments.utility_vs_noise.sweeps.s.training.steps",
    ),
    # results written outside the repository (issue 24)
    ("workdir", "/", "workdir"),
    ("workdir", "../other-checkout", "workdir"),
    ("workdir", "runs/../../elsewhere", "workdir"),
    # a budget given twice would give two rows with one key
    ("evaluation.attack_radii", [0.0, 0.5, 0.5], "evaluation.attack_radii"),
    ("evaluation.linf_radii", [0.1, 0.1], "evaluation.linf_radii"),
]


@pytest.mark.parametrize("key, value, named", BAD, ids=[f"{k}={v!r}" for k, v, _ in BAD])
def test_malformed_configuration_names_the_key(default_config, key, value, named):
    with pytest.raises(ConfigError) as error:
        validate_config(set_key(default_config, key, value))
    assert f"'{named}" in str(error.value)


def test_dimension_must_hold_every_feature_orthogonally(default_config):
    config = set_key(set_key(default_config, "data.dimension", 6), "data.tail_frequency", 0.2)
    with pytest.raises(ConfigError, match=r"data.dimension': 6 is too small .*at least 8"):
        validate_config(config)


def test_a_sweep_collision_is_named_with_both_keys(default_config):
    sweep = {"pretraining.learning_rate": [1.0, 2.0], "training.learning_rate": [1.0, 2.0], "training.epsilon": [2.0]}
    config = set_key(default_config, "experiments.pretraining_shift.sweeps", {"main": sweep})
    with pytest.raises(ConfigError, match=r"\['pretraining.learning_rate', 'training.learning_rate'\] are all swept"):
        validate_config(config)


def test_a_number_yaml_reads_as_a_string_says_how_to_write_it(default_config):
    with pytest.raises(ConfigError, match="write 1.0e-5"):
        validate_config(set_key(default_config, "training.delta", "1e-5"))


def test_a_count_written_as_a_float_says_how_to_write_it(default_config):
    with pytest.raises(ConfigError, match=r"'training.steps': 40.0 is not of type 'integer'.*write 40, without .0"):
        validate_config(set_key(default_config, "training.steps", 40.0))
    sweep = {"s": {"training.steps": [40, 80.0]}}
    with pytest.raises(ConfigError, match=r"sweeps.s.training.steps': value 80.0: .*write 80, without .0"):
        validate_config(set_key(default_config, "experiments.utility_vs_noise.sweeps", sweep))


DEGENERATE_SPLITS = [
    ("data.imbalance_ratio", 1e6, "data.imbalance_ratio", "class 1 (all) with 0 examples"),
    (
        "experiments.class_imbalance.sweeps",
        {"main": {"data.imbalance_ratio": [4.0, 1e6], "training.epsilon": [2.0]}},
        "experiments.class_imbalance.sweeps.main.data.imbalance_ratio",
        "data imbalance_ratio=1000000",
    ),
    (
        "experiments.long_tail.sweeps",
        {"rare_tail": {"data.tail_frequency": [0.001], "training.epsilon": [2.0]}},
        "experiments.long_tail.sweeps.rare_tail.data.tail_frequency",
        "class 0 (tail) with 0 examples",
    ),
    ("experiments.pretraining_shift.data.n_public", 1, "experiments.pretraining_shift.data.n_public", "public split"),
    (
        "experiments.real_class_imbalance.sweeps",
        {"main": {"data.minority_fraction": [0.001], "training.epsilon": [2.0]}},
        "experiments.real_class_imbalance.sweeps.main.data.minority_fraction",
        "class 9 (label 8) with 0 examples",
    ),
    ("data.public_fraction", 0.9999, "data.public_fraction", "class 0 (label 0) with 0 examples"),
]


@pytest.mark.parametrize("key, value, named, group", DEGENERATE_SPLITS, ids=[k for k, *_ in DEGENERATE_SPLITS])
def test_a_split_with_an_empty_group_is_refused_naming_the_key(default_config, key, value, named, group):
    with pytest.raises(ConfigError) as error:
        validate_config(set_key(default_config, key, value))
    assert f"config key '{named}': the " in str(error.value) and group in str(error.value)


def test_a_workdir_inside_the_repository_is_accepted(default_config):
    for workdir in (".", "runs/small", "runs/../runs/other"):
        validate_config(set_key(default_config, "workdir", workdir))


def test_duplicate_keys_are_refused_with_both_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("training:\n  steps: 10\n  steps: 20\n")
    with pytest.raises(ConfigError, match=r"twice.yaml: duplicate key 'steps' at line 3 \(first at line 2\)"):
        load_yaml(path)


def test_a_config_file_with_a_duplicate_key_stops_the_run_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "override.yaml").write_text("threads: 1\nthreads: 2\n")
    result = snakemake(workdir, "-n", "--configfile", "override.yaml")
    assert result.returncode != 0
    assert "override.yaml: duplicate key 'threads'" in result.stderr + result.stdout
    assert not (workdir / "results").exists()


def test_bad_yaml_is_a_config_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seeds: [0, 1\nthreads: 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(path)


def test_command_line_overrides_are_validated_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "-n", "--config", "threads=0")
    assert result.returncode != 0
    assert "config key 'threads'" in result.stderr + result.stdout
    assert not (workdir / "results").exists()


def test_frozen_fraction_must_leave_a_trainable_filter(default_config):
    config = set_key(default_config, "experiments.mitigations.sweeps.freezing", {"model.frozen_fraction": [0.99]})
    with pytest.raises(ConfigError, match="freezes every filter"):
        validate_config(config)


def test_plan_expands_sweeps_and_shares_data(default_config):
    plan = Plan(default_config)
    conditions = [c for c in plan.of_experiment("utility_vs_noise") if c.sweep == "feature_norm"]
    grid = default_config["experiments"]["utility_vs_noise"]["sweeps"]["feature_norm"]
    assert len(conditions) == len(grid["data.feature_norm"]) * len(grid["training.epsilon"])
    assert len({c.data_id for c in conditions}) == len(grid["data.feature_norm"])
    assert plan.label_columns("utility_vs_noise") == [
        "sweep",
        "feature_norm",
        "epsilon",
        "width",
        "learning_rate",
        "n_train",
    ]
    width_run = next(c for c in plan.of_experiment("utility_vs_noise") if c.sweep == "width")
    assert width_run.labels["feature_norm"] == default_config["data"]["feature_norm"]  # actual value, not blank
    assert condition_id({"data.feature_norm": 4.0, "training.epsilon": float("inf")}) == "feature_norm=4__epsilon=inf"


def test_conditions_that_differ_only_in_epsilon_form_one_training_job(default_config):
    plan = Plan(default_config)
    stack = plan.train_jobs[("utility_vs_noise", "feature_norm__feature_norm=4")]
    grid = default_config["experiments"]["utility_vs_noise"]["sweeps"]["feature_norm"]
    assert [c.labels["epsilon"] for c in stack] == grid["training.epsilon"]
    assert len({c.data_id for c in stack}) == 1
    assert [c.id for c in plan.train_jobs[("adversarial", "main")]][-1] == "main__epsilon=2"
    for conditions in plan.train_jobs.values():  # every stack: one grid point at distinct epsilons
        epsilons = [c.params["training"]["epsilon"] for c in conditions]
        assert len(set(epsilons)) == len(epsilons)
        for c in conditions[1:]:
            assert {**c.params["training"], "epsilon": None} == {**conditions[0].params["training"], "epsilon": None}
            assert {k: v for k, v in c.params.items() if k != "training"} == {
                k: v for k, v in conditions[0].params.items() if k != "training"
            }


def test_paired_keys_move_together_and_the_rest_multiplies(default_config):
    grid = {"model.width": [5, 20], "training.learning_rate": [2.5, 10.0], "training.epsilon": [math.inf, 2.0],
            "paired": ["model.width", "training.learning_rate"]}  # fmt: skip
    config = set_key(default_config, "experiments.utility_vs_noise.sweeps", {"width_scaled_lr": grid})
    validate_config(config)
    points = {(c.params["model"]["width"], c.params["training"]["learning_rate"], c.params["training"]["epsilon"])
              for c in Plan(config).of_experiment("utility_vs_noise")}  # fmt: skip
    assert points == {(5, 2.5, math.inf), (5, 2.5, 2.0), (20, 10.0, math.inf), (20, 10.0, 2.0)}


@pytest.mark.parametrize(
    "paired, lengths, message",
    [
        (["model.width", "training.steps"], ([5, 20], [2.5, 10.0]), r"\['training.steps'\] are not swept"),
        (["model.width", "training.learning_rate"], ([5, 20, 80], [2.5, 10.0]), "value lists of one length"),
    ],
    ids=["unswept", "lengths"],
)
def test_a_bad_pairing_is_named(default_config, paired, lengths, message):
    grid = {"model.width": lengths[0], "training.learning_rate": lengths[1], "training.epsilon": [2.0],
            "paired": paired}  # fmt: skip
    config = set_key(default_config, "experiments.utility_vs_noise.sweeps", {"width_scaled_lr": grid})
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_a_partial_run_does_not_rebuild_the_pooled_fnr_table_from_a_subset(default_config):
    """fnr_transition.csv pools every synthetic experiment: a run of one of them keeps the committed copy."""
    config = default_config
    for name in ("utility_vs_noise", "long_tail", "adversarial", "pretraining_shift", "mitigations"):
        config = set_key(config, f"experiments.{name}.enabled", False)
    plan = Plan(validate_config(config))
    assert "class_imbalance" in plan.experiments and "utility_vs_noise" not in plan.experiments
    assert plan.pooled_fnr_experiments() == [] and "mitigations" in plan.pooled_fnr_left_out()
    assert "results/tables/fnr_transition.csv" not in plan.table_files()
    assert "fnr_transition" not in plan.figure_names()
    full = Plan(default_config)
    assert "class_imbalance" in full.pooled_fnr_experiments() and full.pooled_fnr_left_out() == []
    assert "results/tables/fnr_transition.csv" in full.table_files()


def test_a_partial_run_says_it_keeps_the_pooled_table(tmp_path):
    workdir = copy_workflow(tmp_path)
    overrides = "\n".join(
        f"  {name}: {{enabled: false}}"
        for name in ("utility_vs_noise", "long_tail", "adversarial", "pretraining_shift", "mitigations")
    )
    (workdir / "partial.yaml").write_text(f"experiments:\n{overrides}\n")
    result = snakemake(workdir, "-n", "--configfile", "partial.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "experiments.mitigations.enabled false, this run does not rebuild it" in result.stderr
    assert "rule fnr_transition" not in result.stdout


def test_the_config_hash_covers_what_the_results_depend_on(default_config):
    switched_off = next(n for n, e in default_config["experiments"].items() if not e["enabled"])
    switched_on = next(n for n, e in default_config["experiments"].items() if e["enabled"])
    reference = config_hash(default_config)
    # a switched-off experiment makes no table of this run: editing it keeps the hash
    assert config_hash(set_key(default_config, f"experiments.{switched_off}.sweeps", {})) == reference
    assert config_hash(set_key(default_config, f"experiments.{switched_on}.sweeps", {})) != reference
    assert config_hash(set_key(default_config, f"experiments.{switched_off}.enabled", True)) != reference
    assert config_hash(set_key(default_config, "seeds", [1])) != reference


def test_the_committed_provenance_names_the_default_configuration(default_config):
    committed = json.loads((REPO / "results" / "provenance.json").read_text())
    assert committed["config_sha256"] == config_hash(default_config)


def test_each_configuration_keeps_its_own_provenance_record(tmp_path):
    """config.yaml alone writes results/provenance.json; an overlay its own file, so that
    config/fashion_mnist.yaml's run does not overwrite the default's record."""
    from dpharm.setup.paths import PROVENANCE, configuration_suffix, fill, provenance_records

    default = str(REPO / "config.yaml")
    assert configuration_suffix([default], default) == ""
    overlays = [str(REPO / "config" / "fashion_mnist.yaml"), str(REPO / "config" / "small.yaml"), default]
    assert configuration_suffix(overlays, default) == ".fashion_mnist+small"
    for suffix in ("", ".fair_dpsgd"):
        path = tmp_path / fill(PROVENANCE, configuration=suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    assert sorted(suffix for _, suffix in provenance_records(tmp_path / "results")) == ["", ".fair_dpsgd"]
