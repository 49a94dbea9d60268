import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from rosetta.data import Split, load_split  # noqa: E402


@pytest.fixture(scope="session")
def test_split() -> Split:
    return load_split("test")


@pytest.fixture(scope="session")
def train_split() -> Split:
    return load_split("train")
