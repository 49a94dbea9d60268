"""Bring your own model: `rosetta.export(model, example_inputs, ...)`, the Python face of `rosetta export --model`."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rosetta.sources import Source, SourceError, detect, load_source
from rosetta.spec import SpecError, batch_size, check_model_name

CALIBRATION_SHARE = 5  # one example in five calibrates int8 ...
MAX_CALIBRATION = 500  # ... at most this many (the built-in models calibrate on 500 images too)
MIN_SPLIT = 10  # below this, calibration and validation share every example (and the manifest says so)
SPLIT_SEED = 0


def load_examples(path: Path | str) -> np.ndarray | dict[str, np.ndarray]:
    """`.npy`: one array (a one-input model); `.npz`: one array per input name."""
    path = Path(path)
    if path.suffix not in (".npy", ".npz"):
        raise SpecError(f"{path}: example inputs must be a .npy or .npz file")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                return {k: data[k] for k in data.files}
        return data
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise SpecError(f"{path}: not a readable numpy file ({exc})") from None


def split_examples(examples: dict[str, np.ndarray], labels: np.ndarray | None):
    """Validation and calibration rows from one example set.

    A seeded random fifth (at most 500 rows) calibrates int8 and every other row validates every cell, so no
    artifact is graded on the rows that calibrated it. Below 10 examples both sets are all of them.
    """
    from exporters.pipeline import Examples

    n = batch_size(examples)
    if labels is not None and len(labels) != n:
        raise SpecError(f"labels: {len(labels)} rows, the example inputs have {n}")
    if n < MIN_SPLIT:
        return Examples(examples, examples, labels,
                        f"{n} examples (< {MIN_SPLIT}): calibration and validation use all of them")
    calib = np.sort(np.random.default_rng(SPLIT_SEED).choice(n, min(MAX_CALIBRATION, max(1, n // CALIBRATION_SHARE)),
                                                              replace=False))
    keep = np.setdiff1d(np.arange(n), calib)
    return Examples({k: v[keep] for k, v in examples.items()}, {k: v[calib] for k, v in examples.items()},
                    labels[keep] if labels is not None else None,
                    f"{len(keep)} validation / {len(calib)} calibration rows of {n} examples (seeded random split)")


def default_name(source: Source) -> str:
    if source.origin.endswith((".keras", ".pt2")):
        stem = Path(source.origin).stem
    elif ":" in source.origin:
        stem = source.origin.rsplit(":", 1)[1]
    else:
        stem = type(source.model).__name__
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem).strip("-.") or "model"
    return check_model_name(name.lower()[:100])


def export(model: Any, example_inputs: np.ndarray | Mapping[str, np.ndarray] | str | Path, *,
           labels: np.ndarray | str | Path | None = None, name: str | None = None,
           formats: Sequence[str] | None = None, atol: float | None = None, artifacts: Path | str = "artifacts",
           version: int | None = None, log: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Export a model to every format the graph reaches from its framework (or `formats`), validate each artifact
    in its runtime against the model on the example inputs, and record them in `artifacts/manifest.json`.

    `model`: a Keras model, a torch.nn.Module or torch.export program, a JAX `(apply_fn, variables)` pair, or a
    source string (`model.keras`, `program.pt2`, `package.module:factory`). Each call publishes a new version,
    `artifacts/<name>/<N>/`: the next free N, or `version` (refused with VersionError if it exists). Returns the
    manifest entries.
    """
    from exporters import gates, manifest
    from exporters.graph import plan
    from exporters.pipeline import export_model, resolve_version
    from exporters.report import write_report

    if name and version is not None:  # refuse a published version before loading anything
        resolve_version(Path(artifacts), check_model_name(name), version)
    source = load_source(str(model)) if isinstance(model, (str, Path)) else detect(model, type(model).__name__)
    if isinstance(example_inputs, (str, Path)):
        example_inputs = load_examples(example_inputs)
    if isinstance(labels, (str, Path)):
        labels = load_examples(labels)
        if isinstance(labels, dict):
            raise SpecError("labels: give a .npy with one integer label per example")
    name = check_model_name(name) if name else default_name(source)
    if version is not None:  # a pinned version is refused before the model runs (default: chosen on export)
        resolve_version(Path(artifacts), name, version)
    spec, examples = infer_spec_or_raise(source, name, example_inputs)
    reachable = list(plan(source.lane))
    formats = list(formats) if formats else reachable
    unknown = [f for f in formats if f not in reachable]
    if unknown:
        raise SpecError(f"format(s) {', '.join(unknown)} not reachable from a {source.lane} model; "
                        f"reachable: {', '.join(reachable)}")
    split = split_examples(examples, None if labels is None else np.asarray(labels))
    entries = export_model(source, spec, formats, Path(artifacts), split,
                           atol=gates.FLOAT_MAX_ABS_DIFF if atol is None else atol, version_=version,
                           log=log or (lambda e: None))
    manifest.write(Path(artifacts), entries)
    write_report(Path(artifacts))
    return entries


def infer_spec_or_raise(source: Source, name: str, examples):
    from rosetta.sources import infer_spec

    try:
        return infer_spec(source, name, examples)
    except (SpecError, SourceError):
        raise
    except Exception as exc:  # noqa: BLE001 - the model itself failed on its examples: say so, plainly
        raise SourceError(f"{source.origin}: the model fails on its example inputs "
                          f"({type(exc).__name__}: {str(exc)[:400]})") from None
