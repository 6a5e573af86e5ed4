"""Committed tables carried over: one that is gone stops a from_tables run instead of dropping its
claims, and a record whose configuration differs from its files now is named."""

import json
import shutil
import subprocess

import pytest

from dpharm.setup.committed import (
    changed_configurations,
    check_tables_present,
    confirmation_tests,
    missing_tables,
    tracked_tables,
)
from dpharm.setup.config import ConfigError, config_hash, load_yaml, merge
from helpers import REPO, copy_workflow, snakemake

TABLES = ["results/tables/class_imbalance.csv", "results/tables/fnr_transition.csv"]


def git(folder, *args):
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture()
def checkout(tmp_path):
    """A git checkout with two registered tables and one unregistered file committed."""
    for table in [*TABLES, "results/tables/claim_tests.csv"]:
        (tmp_path / table).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / table).write_text("a\n1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tables")
    return tmp_path


def test_the_tracked_tables_are_the_registered_ones_git_holds(checkout):
    assert sorted(tracked_tables(checkout)) == sorted(TABLES)  # claim_tests.csv is an output, not an input
    assert tracked_tables(checkout / "results") == []  # paths are relative to the working folder


def test_a_tracked_confirmation_stays_an_input_when_deleted_and_an_untracked_one_counts(checkout):
    """A deleted committed confirmation must stop the verdicts job as a missing input, not
    silently drop its matrix columns; one made but not yet committed is drawn too."""
    tracked, made = "results/confirmation/a/claim_tests.csv", "results/confirmation/b/claim_tests.csv"
    for name in (tracked, made):
        (checkout / name).parent.mkdir(parents=True)
        (checkout / name).write_text("a\n1\n")
    git(checkout, "add", tracked)
    (checkout / tracked).unlink()
    assert confirmation_tests(checkout) == [tracked, made]
    assert confirmation_tests(checkout / "results") == []  # relative to the working folder


def test_a_deleted_committed_table_is_refused_naming_it_and_the_fix(checkout):
    (checkout / TABLES[0]).unlink()
    with pytest.raises(ConfigError, match="from_tables") as error:
        check_tables_present([], checkout)
    assert f"{checkout / TABLES[0]}: restore it with `git checkout -- {TABLES[0]}`" in str(error.value)


def test_a_planned_table_that_was_never_made_is_refused(tmp_path):
    """Outside a checkout (an archive) the plan's tables are still required."""
    assert missing_tables(["results/tables/adversarial.csv"], tmp_path) == ["results/tables/adversarial.csv"]
    with pytest.raises(ConfigError, match="adversarial.csv: rebuild it with a run without from_tables"):
        check_tables_present(["results/tables/adversarial.csv"], tmp_path)


def test_every_table_present_passes(checkout):
    check_tables_present(TABLES, checkout)


def test_from_tables_stops_before_any_job_when_a_committed_table_is_deleted(tmp_path):
    workdir = copy_workflow(tmp_path)
    shutil.copytree(REPO / "results" / "tables", workdir / "results" / "tables")
    git(workdir, "init", "-q")
    git(workdir, "add", "results")
    git(workdir, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tables")
    (workdir / "results" / "tables" / "fashion_long_tail.csv").unlink()  # switched off, yet committed
    result = snakemake(workdir, "-n", "--config", "from_tables=True")
    assert result.returncode != 0
    assert "fashion_long_tail.csv: restore it with `git checkout" in result.stdout + result.stderr


def test_a_configuration_changed_since_it_made_its_tables_is_named(tmp_path):
    """Each provenance record but the run's own is checked against its configuration now:
    an overlay edited after its run is named, with the command that remakes its tables."""
    repository = tmp_path / "repo"
    (repository / "config").mkdir(parents=True)
    shutil.copy(REPO / "config.yaml", repository / "config.yaml")
    shutil.copy(REPO / "config" / "fair_dpsgd.yaml", repository / "config" / "fair_dpsgd.yaml")
    results = tmp_path / "results"
    results.mkdir()
    fair = merge(load_yaml(repository / "config.yaml"), load_yaml(repository / "config" / "fair_dpsgd.yaml"))
    (results / "provenance.fair_dpsgd.json").write_text(json.dumps({"config_sha256": config_hash(fair)}))
    (results / "provenance.json").write_text(json.dumps({"config_sha256": "the run's own, rewritten"}))
    assert changed_configurations(results, repository, results / "provenance.json") == []
    overlay = repository / "config" / "fair_dpsgd.yaml"
    overlay.write_text(overlay.read_text().replace("seeds: [110,", "seeds: [120,"))
    (note,) = changed_configurations(results, repository, results / "provenance.json")
    assert note.startswith(
        f"{(results / 'provenance.fair_dpsgd.json').resolve()}: the run that made its tables had another configuration"
    )
    assert "`snakemake --cores 2 --configfile config/fair_dpsgd.yaml`" in note


def test_the_shipped_records_match_their_configurations():
    """Every committed provenance record's configuration is unchanged since its run: a config edit
    that would make its tables differ is not committed without rerunning them. The same holds for
    the records of runs made in their own folders (hold-out settings, confirmations)."""
    folders = [REPO / "results", *(REPO / "results").glob("holdout/*"), *(REPO / "results").glob("confirmation/*")]
    assert len(folders) >= 3
    for folder in folders:
        assert changed_configurations(folder, REPO, folder / "no-such-record.json") == [], folder
