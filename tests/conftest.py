from pathlib import Path

import pytest

from dpharm.setup.config import load_yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture()
def default_config() -> dict:
    return load_yaml(REPO / "config.yaml")


@pytest.fixture()
def data_params(default_config) -> dict:
    return dict(default_config["data"])


@pytest.fixture()
def training_params(default_config) -> dict:
    return dict(default_config["training"])


# The longest test files first: pytest-xdist (addopts: --dist loadfile --no-loadscope-reorder)
# hands out whole files in collection order; by default it puts the files with the most tests
# first, and the 9-test end-to-end run, the longest, started last and ran alone at the end.
FIRST = ("test_small_run.py", "test_bench.py", "test_workflow.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: FIRST.index(item.path.name) if item.path.name in FIRST else len(FIRST))
