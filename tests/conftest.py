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
