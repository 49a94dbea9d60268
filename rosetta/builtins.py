"""The built-in models (the MNIST MLP and CNN, trained in each lane) through the export path every model takes:
their example sets and their checkpoints as sources (rosetta.api publishes the run)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rosetta import contract
from rosetta.core.examples import Examples
from rosetta.core.manifest import Entry
from rosetta.mnist import Split
from rosetta.sources import Source

CALIBRATION_IMAGES = 500  # int8 calibration sample from the training split (seed 0)


def mnist_examples(train: Split, test: Split) -> Examples:
    """Validation: the whole test split, with labels; calibration: 500 training images."""
    calibration = np.random.default_rng(0).choice(len(train), min(CALIBRATION_IMAGES, len(train)), replace=False)
    name = contract.MNIST_MLP.inputs[0].name
    return Examples({name: test.images}, {name: train.images[calibration]}, test.labels,
                    f"MNIST test split ({len(test):,} images) / {len(calibration)} training images calibrate int8")


def builtin_source(model: str, lane: str, artifacts_dir: Path) -> tuple[Source, Any]:
    """The trained checkpoint of `model` in `lane`, as a source, and its spec under its served name."""
    from rosetta.models import lane as load_lane

    served = contract.served_name(model, lane)
    lane_module = load_lane(lane)
    checkpoint = Path(artifacts_dir) / served / lane_module.CHECKPOINT
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint} missing: run `rosetta train --model {model} --lane {lane}` first")
    trained = lane_module.load(checkpoint.parent)
    return Source(lane, lane_module.export_source(trained), str(checkpoint)), \
        contract.BUILTIN_MODELS[model].renamed(served)


def export_builtin(model: str, lane: str, formats: Sequence[str] | None, artifacts_dir: Path, examples: Examples,
                   log: Callable[[Entry], None], version: int | None = None, skip: Sequence[str] = ()) -> list[Entry]:
    from rosetta.exporters.graph import plan
    from rosetta.exporters.pipeline import export_model

    source, spec = builtin_source(model, lane, artifacts_dir)
    chosen = [f for f in formats or plan(lane) if f not in skip and (formats or f not in contract.OPT_IN_FORMATS)]
    return export_model(source, spec, chosen, artifacts_dir, examples, version_=version, log=log)
