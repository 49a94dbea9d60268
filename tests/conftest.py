import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from rosetta.mnist import Split, load_split  # noqa: E402


@pytest.fixture(scope="session")
def test_split() -> Split:
    return load_split("test")


@pytest.fixture(scope="session")
def train_split() -> Split:
    return load_split("train")


def _rosetta(*args: str) -> None:
    """Run the real CLI; its progress lines stream to the test log."""
    subprocess.run([sys.executable, "-m", "rosetta.cli", *args], check=True, timeout=1800)


# make test trains the CNN on a slice (its full run, ~3 min a lane here, is `make export`'s): the pipeline after
# training is the same, and the accuracy bar for a slice-trained CNN is CNN_SLICE_BAR (tests/exporters).
# Batch 64 on the slice: twice the steps of the full recipe's batch 128 (1 epoch at 128 measured 95.8% in torch,
# too close to CNN_SLICE_BAR).
CNN_SLICE = ("--epochs", "1", "--train-limit", "15000", "--batch-size", "64")
EXTRA_FORMATS = ("tflite-fp16", "onnx-fp16", "onnx-int8", "openvino", "executorch")


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real pipeline, once per session: the MLP fully trained in every lane, the CNN on a slice of the
    training set, then every export of both.

    Set ROSETTA_ARTIFACTS to an existing `make export` output to reuse it instead.
    """
    reuse = os.environ.get("ROSETTA_ARTIFACTS")
    if reuse:
        path = Path(reuse)
        assert (path / "manifest.json").is_file(), f"ROSETTA_ARTIFACTS={reuse} has no manifest.json"
        return path
    out = tmp_path_factory.mktemp("artifacts")
    _rosetta("--out", str(out), "train", "--model", "mnist-mlp")
    _rosetta("--out", str(out), "train", "--model", "mnist-cnn", *CNN_SLICE)
    # Gate failures exit 1: let the tests below report which cells failed rather than stop here. The reduced-
    # precision and further-runtime formats are `make export`'s; tests/exporters/test_new_targets.py exports a
    # small model to each (all of them here would add ~44 cells, minutes, to make test).
    subprocess.run([sys.executable, "-m", "rosetta.cli", "--out", str(out), "export", "--skip-format", *EXTRA_FORMATS],
                   timeout=1800)
    return out


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Whatever needs the real pipeline's artifacts is end to end: mark it slow (`-m "not slow"` skips it)."""
    for item in items:
        if "artifacts_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
