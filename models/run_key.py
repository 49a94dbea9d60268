"""What makes a training run the same run: the key `rosetta train` compares with the one a checkpoint was trained
under, so an unchanged lane is not trained again. Computed from files and installed versions only: deciding that
nothing needs doing must not cost a framework import.

The key covers the lane and model, the code that builds and trains it (the lane's module and the shared
architecture/recipe modules), the data (the checksums every load verifies), the config (epochs, batch, learning
rate, warm-up, label smoothing, seed), the training slice, and the versions of the libraries that run it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rosetta import keras_backends
from rosetta.core.digest import files_digest
from rosetta.core.tool_versions import versions
from rosetta.models.common import TrainConfig

_HERE = Path(__file__).resolve().parent
# Shared by every lane: the architectures, the recipe, the training driver, the specs and training defaults.
SHARED_CODE = ("architectures.py", "common.py", "training.py")
LANE_CODE = {"keras": "keras_lane.py", "keras-jax": "keras_lane.py", "keras-torch": "keras_lane.py",
             "torch": "torch_lane.py", "jax": "jax_lane.py"}
# Distributions whose versions decide a lane's numbers (each lane module's DISTRIBUTIONS; tests/models checks).
_BACKEND_DISTRIBUTIONS = {"tensorflow": ("tensorflow-cpu",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}
LANE_DISTRIBUTIONS = {
    **{lane: ("keras", *_BACKEND_DISTRIBUTIONS[backend]) for lane, backend in keras_backends.BACKENDS.items()},
    "torch": ("torch",), "jax": ("jax", "jaxlib", "flax", "optax"),
}


def _contract_file() -> Path:
    from rosetta import contract

    return Path(contract.__file__)


def code_digest(lane: str) -> str:
    """sha256 over the source of what trains `lane` (its module, the shared ones, the built-in contract)."""
    return files_digest([_HERE / LANE_CODE[lane], *(_HERE / f for f in SHARED_CODE), _contract_file()])


def data_digest(data_dir: Path) -> str:
    """The data's identity: its checksum file (every load verifies the IDX files against it)."""
    from rosetta.mnist import CHECKSUM_FILE

    return hashlib.sha256((Path(data_dir) / CHECKSUM_FILE).read_bytes()).hexdigest()


def run_key(model: str, lane: str, config: TrainConfig, data_dir: Path, train_limit: int | None) -> dict[str, Any]:
    """Every input of a single-device training run, as JSON-able data (recorded in metrics.json)."""
    if lane not in LANE_CODE:
        raise ValueError(f"unknown lane {lane!r}")
    return {"model": model, "lane": lane, "code": code_digest(lane), "data": data_digest(data_dir),
            "train_limit": train_limit, "config": asdict(config), "versions": versions(*LANE_DISTRIBUTIONS[lane])}


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def current_metrics(model_dir: Path, key: dict[str, Any], metrics_file: str = "metrics.json") -> dict | None:
    """The metrics of the checkpoint in `model_dir` if it was trained under exactly `key` (None: train it).
    metrics.json is written after the checkpoint, so a recorded key means a whole checkpoint."""
    try:
        metrics = json.loads((Path(model_dir) / metrics_file).read_text())
        if metrics.get("run_key") != key_digest(key) or not (Path(model_dir) / metrics["checkpoint"]).is_file():
            return None
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None
    return metrics
