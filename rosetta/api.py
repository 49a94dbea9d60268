"""The Python API, and the one place that publishes an export: `export` (any model) and `export_builtins` (the
MNIST models' lanes) write the manifest and the report once per run. `rosetta export` is a shell over these."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rosetta.core import manifest, retention
from rosetta.core.examples import load_examples, split_examples
from rosetta.core.manifest import Entry
from rosetta.core.retention import KEEP_NEWEST
from rosetta.core.spec import SpecError, check_model_name
from rosetta.sources import Source, SourceError, detect, load_source

Log = Callable[[Entry], None]


def default_name(source: Source) -> str:
    if source.origin.endswith((".keras", ".pt2", ".onnx")):
        stem = Path(source.origin).stem
    elif source.lane == "savedmodel-dir":
        stem = Path(source.origin).resolve().name
    elif ":" in source.origin:
        stem = source.origin.rsplit(":", 1)[1]
    else:
        stem = type(source.model).__name__
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem).strip("-.") or "model"
    return check_model_name(name.lower()[:100])


def _publish(artifacts: Path, entries: list[Entry], keep: int) -> None:
    """Record a run's cells in the manifest, apply the retention policy to their models (rosetta.core.retention:
    labelled versions and the newest `keep` stay) and rewrite the report over the whole manifest."""
    from rosetta.exporters.report import write_report

    manifest.write(artifacts, entries)
    retention.prune(artifacts, {e.model_name for e in entries}, keep)
    write_report(artifacts)


def export(model: Any, example_inputs: np.ndarray | Mapping[str, np.ndarray] | str | Path, *,
           labels: np.ndarray | str | Path | None = None, name: str | None = None,
           formats: Sequence[str] | None = None, atol: float | None = None, artifacts: Path | str = "artifacts",
           version: int | None = None, log: Log | None = None, output_kinds: Mapping[str, str] | None = None,
           gates: Mapping[str, float] | None = None, signature: str | None = None,
           dynamic: Mapping[str, Mapping[int, tuple[int, int | None] | None]] | None = None,
           skip: Sequence[str] = (), keep: int = KEEP_NEWEST) -> list[Entry]:
    """Export a model to every format the graph reaches from its framework (or `formats`), less `skip`, validate
    each artifact in its runtime against the model on the example inputs, and record them in `artifacts/manifest.json`.

    `model`: a Keras model, a torch.nn.Module or torch.export program, a JAX `(apply_fn, variables)` pair, or a
    source string (`model.keras`, `program.pt2`, `model.onnx`, a SavedModel directory (its `signature`, default
    serving_default), `package.module:factory`). `output_kinds`: {output: kind} over the inferred kinds;
    `gates`: {threshold name: value} over gates.Thresholds' defaults. Each call publishes a new version,
    `artifacts/<name>/<N>/`: the next free N, or `version` (refused with VersionError if it exists); then the
    model keeps its labelled versions and its newest `keep` (rosetta.core.retention). Returns the manifest
    entries. `dynamic` frees non-batch axes the model cannot declare itself: {input: {axis: (min, max) or None}}
    (a .pt2's Dims and a Keras model's None dimensions are read from the model).
    """
    from rosetta import output_kinds as kinds
    from rosetta.exporters import gates as gate_module
    from rosetta.exporters.graph import plan
    from rosetta.exporters.pipeline import export_model, resolve_version

    artifacts = Path(artifacts)
    try:  # every request is checked before anything is loaded
        thresholds = gate_module.DEFAULT.override(gates or {})
    except ValueError as exc:
        raise SpecError(f"--gate: {exc}") from None
    if atol is not None:
        thresholds = thresholds.override({"atol": atol})
    kind_overrides = kinds.parse_overrides(output_kinds)
    if name and version is not None:  # refuse a published version before loading anything
        resolve_version(artifacts, check_model_name(name), version)
    source = (load_source(str(model), signature=signature) if isinstance(model, (str, Path))
              else detect(model, type(model).__name__))
    if isinstance(example_inputs, (str, Path)):
        example_inputs = load_examples(example_inputs)
    if isinstance(labels, (str, Path)):
        labels = load_examples(labels)
        if isinstance(labels, dict):
            raise SpecError("labels: give a .npy with one integer label per example")
    name = check_model_name(name) if name else default_name(source)
    if version is not None:  # a pinned version is refused before the model runs (default: chosen on export)
        resolve_version(artifacts, name, version)
    spec, examples = _infer_spec(source, name, example_inputs, dynamic)
    spec = kinds.apply_overrides(spec, kind_overrides)
    reachable = list(plan(source.lane))
    formats = [f for f in (formats or reachable) if f not in skip]
    unknown = [f for f in formats if f not in reachable]
    if unknown:
        raise SpecError(f"format(s) {', '.join(unknown)} not reachable from a {source.lane} model; "
                        f"reachable: {', '.join(reachable)}")
    split = split_examples(examples, None if labels is None else np.asarray(labels))
    entries = export_model(source, spec, formats, artifacts, split,
                           thresholds=thresholds, version_=version, log=log or (lambda e: None))
    _publish(artifacts, entries, keep)
    return entries


def _infer_spec(source: Source, name: str, examples, dynamic=None):
    from rosetta.sources import infer_spec

    try:
        return infer_spec(source, name, examples, dynamic)
    except (SpecError, SourceError):
        raise
    except Exception as exc:  # noqa: BLE001 - the model itself failed on its examples: say so, plainly
        raise SourceError(f"{source.origin}: the model fails on its example inputs "
                          f"({type(exc).__name__}: {str(exc)[:400]})") from None


def export_builtins(model: str, lanes: Sequence[str], formats: Sequence[str] | None, artifacts: Path | str,
                    data_dir: Path | None = None, version: int | None = None, log: Log | None = None,
                    announce: Callable[[str], None] = print, skip: Sequence[str] = (), keep: int = KEEP_NEWEST,
                    force: bool = False) -> tuple[list[Entry], list[str]]:
    """Export the trained built-in `model` ("all" for both) in each of `lanes` this process can run; returns the
    entries and the lanes it could not (Keras lanes of another backend than this process's Keras: run each in a
    process of its own). A checkpoint whose newest version was exported under the same key (same checkpoint
    bytes, formats, converter and runtime versions, exporter code, data; rosetta.exporters.reuse) is not
    exported again: its entries are returned and nothing is published, unless `force` or a pinned `version`."""
    from rosetta import contract
    from rosetta.builtins import current_export, export_builtin, mnist_examples, up_to_date
    from rosetta.exporters.pipeline import resolve_version
    from rosetta.mnist import load_split
    from rosetta.models import needs_own_process

    artifacts = Path(artifacts)
    models = list(contract.BUILTIN_MODELS) if model == "all" else [model]
    if version is not None:  # refuse a published version before loading data or models
        for m in models:
            for name in lanes:
                resolve_version(artifacts, contract.served_name(m, name), version)
    entries: list[Entry] = []
    reused: list[Entry] = []
    elsewhere: list[str] = []
    examples = None
    try:
        for m in models:
            for name in lanes:
                key, same = current_export(m, name, formats, skip, artifacts, data_dir, force, version)
                if same is not None:
                    announce(up_to_date(same))
                    reused += same
                    continue
                # Known only once a Keras lane has run here: Keras fixes its backend at its first import.
                if needs_own_process(name):
                    elsewhere += [name] if name not in elsewhere else []
                    continue
                if examples is None:
                    examples = mnist_examples(load_split("train", data_dir), load_split("test", data_dir))
                announce(f"exporting {contract.served_name(m, name)}")
                entries += export_builtin(m, name, formats, artifacts, examples, log=log or (lambda e: None),
                                          version=version, key=key, skip=skip)
    finally:  # what was published before a failure is recorded, never left on disk unlisted
        if entries:
            _publish(artifacts, entries, keep)
    return reused + entries, elsewhere
