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


def chosen_formats(lane: str, formats: Sequence[str] | None, skip: Sequence[str] = ()) -> list[str]:
    """What a built-in export of `lane` makes: `formats`, else every format the lane reaches but the opt-in ones;
    less `skip`."""
    from rosetta.exporters.graph import plan

    return [f for f in formats or plan(lane) if f not in skip and (formats or f not in contract.OPT_IN_FORMATS)]


def export_key(model: str, lane: str, formats: Sequence[str], artifacts_dir: Path,
               data_dir: Path | None) -> dict[str, Any] | None:
    """The key of exporting the trained checkpoint (exporters.reuse), None when there is no checkpoint yet.
    Reads files and versions only: no framework is imported."""
    from rosetta.exporters.graph import NODES
    from rosetta.exporters.reuse import export_key as key_of
    from rosetta.mnist import DEFAULT_DATA_DIR
    from rosetta.models.architectures import ARCHITECTURE_FILE
    from rosetta.models.run_key import data_digest

    model_dir = Path(artifacts_dir) / contract.served_name(model, lane)
    files = [model_dir / NODES[lane].filename, model_dir / ARCHITECTURE_FILE]
    if not all(f.is_file() for f in files):
        return None
    return key_of(files, lane, list(formats), data_digest(data_dir or DEFAULT_DATA_DIR),
                  extra_code=[Path(__file__)])


def current_export(model: str, lane: str, formats: Sequence[str] | None, skip: Sequence[str], artifacts_dir: Path,
                   data_dir: Path | None, force: bool = False,
                   version: int | None = None) -> tuple[dict[str, Any] | None, list[Entry] | None]:
    """The export key of the lane's checkpoint, and the entries of its newest version when that was exported under
    the same key (nothing to redo); never reused under `force` or a pinned `version`."""
    from rosetta.exporters.reuse import reusable

    key = export_key(model, lane, chosen_formats(lane, formats, skip), artifacts_dir, data_dir)
    if force or version is not None or key is None:
        return key, None
    return key, reusable(Path(artifacts_dir), contract.served_name(model, lane), key)


def up_to_date(entries: list[Entry]) -> str:
    """What a run says of a model whose newest version is current (current_export)."""
    return (f"{entries[0].model_name}: up to date (version {entries[0].version} was exported from the same "
            "checkpoint with the same tools; --force exports it again)")


def export_builtin(model: str, lane: str, formats: Sequence[str] | None, artifacts_dir: Path, examples: Examples,
                   log: Callable[[Entry], None], version: int | None = None, skip: Sequence[str] = (),
                   key: dict[str, Any] | None = None) -> list[Entry]:
    from rosetta.exporters.pipeline import export_model

    source, spec = builtin_source(model, lane, artifacts_dir)
    return export_model(source, spec, chosen_formats(lane, formats, skip), artifacts_dir, examples, version_=version,
                        log=log, key=key)
