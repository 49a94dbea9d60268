"""Walk the export graph for one model: convert (atomically), validate in the real runtime, record.

`export_model` is the one path every model takes, built-in or a user's: a source (its framework is its lane),
its spec, and example rows split into a validation set and an int8 calibration set.
"""
from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exporters import gates, manifest
from exporters.context import ExportContext
from exporters.graph import NODES, Edge, describe, node_path, plan
from exporters.runtimes import RUNTIMES
from exporters.tflite_ops import op_histogram
from rosetta.atomic import atomic_dir, atomic_file
from rosetta.sources import Source
from rosetta.spec import ModelSpec, slice_batch
from rosetta.versions import version

SOURCE_OUTPUTS = "source_outputs.npz"  # the source model's outputs on the validation inputs, by output name
VALIDATION_LABELS = "validation_labels.npy"  # written when labels are given: the report's confusion matrices
SAMPLE_INPUTS = "sample_inputs.npz"  # the first validation rows, for benches and runtime checks elsewhere
SAMPLE_ROWS = 256
WARMUP_ROWS = 8


@dataclass(frozen=True)
class Examples:
    """Rows by input name: every cell is validated on `validation`; int8 is calibrated on `calibration`."""
    validation: dict[str, np.ndarray]
    calibration: dict[str, np.ndarray]
    labels: np.ndarray | None = None  # of the validation rows, for accuracy
    split: str = ""  # how the two sets were chosen, for the manifest


@dataclass
class ModelExport:
    """Builds the nodes one model's requested formats need, each once, remembering failures too."""
    model_dir: Path
    published: set[str]  # node ids that are this run's requested artifacts; other nodes are intermediates
    ctx: ExportContext
    work_dir: Path
    built: dict[str, Path] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def build(self, edge: Edge) -> Path:
        if edge.dst in self.built:
            return self.built[edge.dst]
        if edge.dst in self.failed:
            raise RuntimeError(self.failed[edge.dst])
        node = NODES[edge.dst]
        src = self.built[edge.src]
        name = self.ctx.model_name
        start = time.perf_counter()
        try:
            if node.id in self.published:
                final = self.model_dir / node.format
                with atomic_dir(final) as tmp:  # a failing converter leaves no half artifact
                    target = node_path(node, name, tmp)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    edge.convert(src, target, self.ctx)
                path = node_path(node, name, final)
            else:  # an intermediate (or another format's node not requested in this run)
                path = node_path(node, name, self.work_dir / node.id)
                path.parent.mkdir(parents=True, exist_ok=True)
                edge.convert(src, path, self.ctx)
        except Exception as exc:  # noqa: BLE001 - any converter failure fails this node's cells only
            self.failed[edge.dst] = f"{edge.src} -> {edge.dst} failed: {type(exc).__name__}: {_first_line(exc)}"
            traceback.print_exc(limit=-3)  # the converter's innermost frames say why
            raise RuntimeError(self.failed[edge.dst]) from None
        self.seconds[edge.dst] = time.perf_counter() - start
        self.built[edge.dst] = path
        return path


def _first_line(exc: Exception, limit: int = 600) -> str:
    text = str(exc).strip() or repr(exc)
    return text if len(text) <= limit else text[:limit] + " ..."


def _describe(artifact: Path, fmt_dir: Path) -> dict[str, Any]:
    """A single-file artifact is hashed as that file; a multi-file one (SavedModel, TF.js) as its dir."""
    files = [p for p in fmt_dir.rglob("*") if p.is_file()]
    return manifest.describe_files(artifact if files == [artifact] else fmt_dir)


def _entry(source: Source, spec: ModelSpec, fmt: str, path_edges: list[Edge], version_: int) -> dict[str, Any]:
    runtime = RUNTIMES[fmt]
    tools = sorted({t for e in path_edges for t in e.tools})
    return {"model_name": spec.name, "lane": source.lane, "format": fmt, "version": version_,
            "spec": spec.to_json(), "source": source.origin,
            "converter": {"path": describe(path_edges), "tools": {t: version(t) for t in tools}},
            "runtime": {"name": runtime.name, "package": runtime.distribution,
                        "version": version(runtime.distribution)}}


def check_layout(spec: ModelSpec, signature: dict[str, Any]) -> None:
    """An artifact must take every input in the source's own shape: a silent NCHW -> NHWC transpose fails here."""
    seen = {t["name"]: t["shape"] for t in signature.get("inputs", [])}
    for t in spec.inputs:
        shape = seen.get(t.name)
        if shape is None:
            continue  # runtimes that record no input names (e.g. positional TorchScript) are checked by running
        if len(shape) != len(t.shape) or any(a is not None and b != -1 and a != b for a, b in zip(shape, t.shape)):
            raise ValueError(f"input {t.name}: the artifact takes shape {shape}, the source {list(t.shape)} "
                             f"(layout {t.layout or 'unspecified'} not preserved)")


def export_model(source: Source, spec: ModelSpec, formats: Sequence[str], artifacts_dir: Path, examples: Examples,
                 atol: float = gates.FLOAT_MAX_ABS_DIFF, version_: int = 1,
                 log: Callable[[dict[str, Any]], None] = print) -> list[dict[str, Any]]:
    """Export and validate `formats` of one model into DIR/<spec.name>/; returns its manifest entries
    (failed cells included). The source is run once on the validation rows: every cell is compared with that."""
    spec.check_inputs(examples.validation)
    model_dir = Path(artifacts_dir) / spec.name
    model_dir.mkdir(parents=True, exist_ok=True)
    reference = source.predict(spec, examples.validation)
    with atomic_file(model_dir / SOURCE_OUTPUTS) as tmp, open(tmp, "wb") as f:
        np.savez(f, **reference)
    with atomic_file(model_dir / SAMPLE_INPUTS) as tmp, open(tmp, "wb") as f:
        np.savez(f, **slice_batch(examples.validation, 0, SAMPLE_ROWS))
    if examples.labels is not None:
        with atomic_file(model_dir / VALIDATION_LABELS) as tmp:
            np.save(tmp, examples.labels)
    ctx = ExportContext(source, spec, examples.calibration, slice_batch(examples.validation, 0, WARMUP_ROWS))
    routes = plan(source.lane)
    unknown = [f for f in formats if f not in routes]
    if unknown:
        raise ValueError(f"{spec.name}: format(s) {unknown} not reachable from a {source.lane} source; "
                         f"reachable: {', '.join(routes)}")
    work_dir = model_dir / ".work"
    shutil.rmtree(work_dir, ignore_errors=True)
    published = {routes[fmt][-1].dst for fmt in formats}
    exporter = ModelExport(model_dir, published, ctx, work_dir, built={source.lane: Path(source.origin)})
    entries = []
    try:
        for fmt in formats:
            path_edges = routes[fmt]
            entry = _entry(source, spec, fmt, path_edges, version_)
            try:
                for edge in path_edges:
                    artifact = exporter.build(edge)
                entry["export_seconds"] = round(sum(exporter.seconds[e.dst] for e in path_edges), 3)
                runtime = RUNTIMES[fmt]
                entry["signature"] = runtime.signature(artifact, spec)
                entry["path"] = str(artifact.relative_to(artifacts_dir))
                if fmt.startswith("tflite"):  # what the runtime will execute, op by op (issue: lean lanes)
                    entry["ops"] = op_histogram(artifact)
                entry.update(_describe(artifact, model_dir / fmt))
                check_layout(spec, entry["signature"])
                start = time.perf_counter()
                outputs = runtime.run(artifact, spec, examples.validation)
                entry["validate_seconds"] = round(time.perf_counter() - start, 3)
                entry["runtime"].update(getattr(outputs, "notes", {}))
                entry["parity"] = gates.parity(fmt, outputs, reference, spec, examples.labels, atol)
                entry["parity"]["split"] = examples.split
                entry["status"] = "ok" if entry["parity"]["passed"] else "gate-failed"
            except Exception as exc:  # noqa: BLE001 - record, keep going with the other cells
                entry["status"], entry["error"] = "failed", _first_line(exc)
            log(entry)
            entries.append(entry)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return entries
