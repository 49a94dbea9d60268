"""Keras 3's claim made executable: a `.keras` file saved on any backend loads on the other two and computes the
same outputs. Each backend runs in its own process (Keras reads KERAS_BACKEND once, at import)."""
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rosetta.keras_backends import LANES, child_env

CHILD = Path(__file__).with_name("keras_backend_child.py")
# Each process saves its own file and runs every file it finds: this order runs every file on every backend.
ORDER = ("tensorflow", "jax", "torch", "tensorflow", "jax")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, test_split) -> Path:
    directory = tmp_path_factory.mktemp("keras-backends")
    np.save(directory / "images.npy", test_split.images[:256])
    for backend in ORDER:
        subprocess.run([sys.executable, str(CHILD), str(directory)], env=child_env(backend), check=True,
                       timeout=600)
    return directory


@pytest.mark.parametrize("saved, loaded", list(itertools.permutations(LANES, 2)))
def test_keras_file_saved_on_one_backend_predicts_the_same_on_another(runs, saved, loaded):
    own = np.load(runs / f"{saved}.on-{saved}.npy")
    other = np.load(runs / f"{saved}.on-{loaded}.npy")
    assert own.shape == (256, 10) and len(np.unique(own.argmax(1))) > 1  # a model that says something
    assert np.abs(other - own).max() <= 1e-5, f"saved on {saved}, loaded on {loaded}"
    assert (other.argmax(1) == own.argmax(1)).all()
