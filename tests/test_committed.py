"""from_tables: a committed table that is gone stops the run instead of dropping its claims."""

import shutil
import subprocess

import pytest

from dpharm.setup.committed import check_tables_present, missing_tables, tracked_tables
from dpharm.setup.config import ConfigError
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
