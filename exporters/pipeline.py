"""Walk the export graph for one model: convert (atomically), validate in the real runtime, record.

`export_model` is the one path every model takes, built-in or a user's: a source (its framework is its lane),
its spec, and example rows split into a validation set and an int8 calibration set. Each run publishes one new
version, DIR/<model>/<N>/, built in a staging dir and renamed into place once its cells are validated.
"""
from __future__ import annotations

import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from rosetta.core import manifest
from rosetta.core.atomic import atomic_dir, write_json
from rosetta.core.digest import describe_files
from rosetta.core.examples import Examples
from rosetta.core.manifest import Entry
from rosetta.core.spec import ModelSpec, slice_batch
from rosetta.core.tool_versions import version
from rosetta.core.version_dirs import StagedVersion, VersionError, check_free, next_version, staged_version, version_dir
from rosetta.exporters import gates, shapes
from rosetta.exporters.base import Unsupported
from rosetta.exporters.context import ExportContext
from rosetta.exporters.graph import NODES, Edge, describe, node_path, plan
from rosetta.exporters.memory import CellMemory
from rosetta.exporters.reuse import EXPORT_KEY
from rosetta.exporters.runtimes import RUNTIMES
from rosetta.exporters.tflite_ops import op_histogram
from rosetta.sources import Source

# Per-version data files, in DIR/<model>/<N>/ (read them through Entry.version_file):
SOURCE_OUTPUTS = "source_outputs.npz"  # the source model's outputs on the validation inputs, by output name
VALIDATION_LABELS = "validation_labels.npy"  # written when labels are given: the report's confusion matrices
SAMPLE_INPUTS = "sample_inputs.npz"  # the first validation rows, for benches and runtime checks elsewhere
SAMPLE_ROWS = 256
WARMUP_ROWS = 8


@dataclass
class ModelExport:
    """Builds the nodes one model's requested formats need, each once, remembering failures too."""
    version_dir: Path  # the staged version directory
    published: set[str]  # node ids that are this run's requested artifacts; other nodes are intermediates
    ctx: ExportContext
    work_dir: Path
    built: dict[str, Path] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)  # what each node's converter reported
    unsupported: dict[str, str] = field(default_factory=dict)  # node id -> why the model has no such node

    def build(self, edge: Edge) -> Path:
        if edge.dst in self.built:
            return self.built[edge.dst]
        if edge.dst in self.failed:
            raise RuntimeError(self.failed[edge.dst])
        if edge.dst in self.unsupported:
            raise Unsupported(self.unsupported[edge.dst])
        node = NODES[edge.dst]
        src = self.built[edge.src]
        name = self.ctx.model_name
        start = time.perf_counter()
        try:
            if node.id in self.published:
                final = self.version_dir / node.format
                with atomic_dir(final) as tmp:  # a failing converter leaves no half artifact
                    target = node_path(node, name, tmp)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    notes = edge.convert(src, target, self.ctx)
                path = node_path(node, name, final)
            else:  # an intermediate (or another format's node not requested in this run)
                path = node_path(node, name, self.work_dir / node.id)
                path.parent.mkdir(parents=True, exist_ok=True)
                notes = edge.convert(src, path, self.ctx)
        except Unsupported as exc:
            self.unsupported[edge.dst] = f"{edge.src} -> {edge.dst}: {exc}"
            raise Unsupported(self.unsupported[edge.dst]) from None
        except Exception as exc:  # noqa: BLE001 - any converter failure fails this node's cells only
            self.failed[edge.dst] = f"{edge.src} -> {edge.dst} failed: {type(exc).__name__}: {_first_line(exc)}"
            traceback.print_exc(limit=-3)  # the converter's innermost frames say why
            raise RuntimeError(self.failed[edge.dst]) from None
        self.seconds[edge.dst] = time.perf_counter() - start
        if notes:
            self.notes[edge.dst] = notes
        self.built[edge.dst] = path
        return path


def _first_line(exc: Exception, limit: int = 600) -> str:
    text = str(exc).strip() or repr(exc)
    return text if len(text) <= limit else text[:limit] + " ..."


def _describe(artifact: Path, fmt_dir: Path) -> dict[str, Any]:
    """A single-file artifact is hashed as that file; a multi-file one (SavedModel, TF.js) as its dir."""
    files = [p for p in fmt_dir.rglob("*") if p.is_file()]
    return describe_files(artifact if files == [artifact] else fmt_dir)


def _entry(source: Source, spec: ModelSpec, fmt: str, path_edges: list[Edge], version_: int) -> Entry:
    """A cell before it is built: failed until validated."""
    runtime = RUNTIMES[fmt]
    tools = sorted({t for e in path_edges for t in e.tools})
    return Entry(spec.name, fmt, version_, "failed", spec, lane=source.lane, source=source.origin,
                 converter={"path": describe(path_edges), "tools": {t: version(t) for t in tools}},
                 runtime={"name": runtime.name, "package": runtime.distribution,
                          "version": version(runtime.distribution)})


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


def resolve_version(artifacts_dir: Path, model_name: str, version_: int | None) -> int:
    """The pinned version if its directory is free (else VersionError), or the next free one."""
    if version_ is None:
        return next_version(artifacts_dir, model_name, manifest.recorded_versions(artifacts_dir, model_name))
    check_free(artifacts_dir, model_name, version_)
    return version_


def _publish(staged: StagedVersion, entries: list[Entry], artifacts_dir: Path, model_name: str,
             pinned: bool, attempts: int = 3) -> None:
    """Rename the staged version into place. If a concurrent export took its number meanwhile, a pinned version
    fails (VersionError); a default one takes the next free number and its entries are renumbered."""
    for attempt in range(attempts):
        try:
            staged.publish()
            return
        except VersionError:
            if pinned or attempt == attempts - 1:
                raise
        new = next_version(artifacts_dir, model_name, manifest.recorded_versions(artifacts_dir, model_name))
        staged.final = version_dir(artifacts_dir, model_name, new)
        for e in entries:
            e.version = new
            if e.path is not None:
                model, _, *rest = PurePosixPath(e.path).parts
                e.path = PurePosixPath(model, str(new), *rest).as_posix()


def _save_examples(version_dir: Path, reference: dict[str, np.ndarray], examples: Examples) -> None:
    np.savez(version_dir / SOURCE_OUTPUTS, **reference)
    np.savez(version_dir / SAMPLE_INPUTS, **slice_batch(examples.validation, 0, SAMPLE_ROWS))
    if examples.labels is not None:
        np.save(version_dir / VALIDATION_LABELS, examples.labels)


def progress(text: str) -> None:
    """One line per cell start and end on stderr: a long cell shows it is under way."""
    print(text, file=sys.stderr, flush=True)


def _build_and_validate(entry: Entry, fmt: str, path_edges: list[Edge], exporter: ModelExport,
                        staged: StagedVersion, artifacts_dir: Path, spec: ModelSpec, examples: Examples,
                        reference: dict[str, np.ndarray], atol: float | None, second: shapes.SecondSize | None,
                        thresholds: gates.Thresholds) -> None:
    """One cell: build its path of edges, describe the artifact, run it in its runtime and gate it."""
    for edge in path_edges:
        artifact = exporter.build(edge)
    entry.export_seconds = round(sum(exporter.seconds[e.dst] for e in path_edges), 3)
    notes = {e.dst: exporter.notes[e.dst] for e in path_edges if e.dst in exporter.notes}
    if notes:  # what the converters had to say (a quantization record, graph rewrites), by node
        entry.converter["notes"] = notes
    runtime = RUNTIMES[fmt]
    entry.signature = runtime.signature(artifact, spec)
    entry.path = (staged.final / artifact.relative_to(staged.dir)).relative_to(artifacts_dir).as_posix()
    if fmt.startswith("tflite"):  # what the runtime will execute, op by op
        entry.ops = op_histogram(artifact)
    described = _describe(artifact, staged.dir / fmt)
    entry.bytes, entry.sha256, entry.files = described["bytes"], described["sha256"], described.get("files")
    check_layout(spec, entry.signature)
    start = time.perf_counter()
    outputs = runtime.run(artifact, spec, examples.validation)
    entry.validate_seconds = round(time.perf_counter() - start, 3)
    entry.runtime.update(getattr(outputs, "notes", {}))
    entry.parity = gates.parity(fmt, outputs, reference, spec, examples.labels, atol, thresholds)
    entry.parity.split = examples.split
    if second is not None:
        entry.shapes = shapes.shapes_record(spec, examples.validation, second, entry.signature)
        if "static" not in entry.shapes and second.reference is not None:
            _validate_second_size(entry, fmt, runtime, artifact, spec, second, atol, thresholds)
    entry.status = "ok" if entry.parity.passed else "gate-failed"


def _validate_second_size(entry: Entry, fmt: str, runtime, artifact: Path, spec: ModelSpec,
                          second: shapes.SecondSize, atol: float | None, thresholds: gates.Thresholds) -> None:
    """The artifact keeps its free axes free: it must match its source at the second size too."""
    where = ", ".join(f"{k} {list(v.shape)}" for k, v in second.inputs.items())
    try:
        outputs = runtime.run(artifact, spec, second.inputs)
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(f"at the second size ({where}): {_first_line(exc)}") from None
    result = gates.parity(fmt, outputs, second.reference, spec, None, atol, thresholds)
    entry.shapes["second_size"] = {"inputs": where, "max_abs_diff": result.max_abs_diff,
                                   "argmax_agreement": result.argmax_agreement, "passed": result.passed}
    if not result.passed:
        entry.parity.passed = False
        entry.parity.failures += [f"at {where}: {f}" for f in result.failures]


def export_model(source: Source, spec: ModelSpec, formats: Sequence[str], artifacts_dir: Path, examples: Examples,
                 atol: float | None = None, version_: int | None = None,
                 log: Callable[[Entry], None] = print, thresholds: gates.Thresholds = gates.DEFAULT,
                 key: dict[str, Any] | None = None) -> list[Entry]:
    """Export and validate `formats` of one model as version `version_` (default: the next free one) into
    DIR/<spec.name>/<N>/; returns its manifest entries (failed cells included). The source is run once on the
    validation rows: every cell is compared with that. The version is published when at least one cell is ok;
    otherwise nothing is left on disk (the entries say why) and the same version can be retried. `thresholds`:
    every gate's limit (`atol`, when given, replaces its float tolerance). `key` (exporters.reuse) is recorded in
    the version: a later export under the same key reuses it."""
    artifacts_dir = Path(artifacts_dir)
    pinned = version_ is not None
    version_ = resolve_version(artifacts_dir, spec.name, version_)
    spec.check_inputs(examples.validation)
    routes = plan(source.lane)
    unknown = [f for f in formats if f not in routes]
    if unknown:
        raise ValueError(f"{spec.name}: format(s) {unknown} not reachable from a {source.lane} source; "
                         f"reachable: {', '.join(routes)}")
    with staged_version(artifacts_dir, spec.name, version_) as staged:
        reference = source.predict(spec, examples.validation)
        second = shapes.second_size(spec, examples.validation, source.predict)
        _save_examples(staged.dir, reference, examples)
        ctx = ExportContext(source, spec, examples.calibration, slice_batch(examples.validation, 0, WARMUP_ROWS),
                            thresholds if atol is None else thresholds.override({"atol": atol}))
        published = {routes[fmt][-1].dst for fmt in formats}
        exporter = ModelExport(staged.dir, published, ctx, staged.work, built={source.lane: Path(source.origin)})
        entries = []
        for fmt in formats:
            path_edges = routes[fmt]
            entry = _entry(source, spec, fmt, path_edges, version_)
            progress(f"[{spec.name}] {fmt}: {describe(path_edges)} ...")
            cell_started, memory = time.perf_counter(), CellMemory()
            try:
                with memory:
                    _build_and_validate(entry, fmt, path_edges, exporter, staged, artifacts_dir, spec, examples,
                                        reference, atol, second, thresholds)
            except Unsupported as exc:  # the model has no such form: said, not failed
                entry.status, entry.error = "skipped", _first_line(exc)
            except Exception as exc:  # noqa: BLE001 - record, keep going with the other cells
                entry.status, entry.error = "failed", _first_line(exc)
            entry.resources = {"seconds": round(time.perf_counter() - cell_started, 3), **memory.record()}
            progress(f"[{spec.name}] {fmt}: {entry.status} in {entry.resources['seconds']:.0f} s, peak RSS "
                     f"{memory.peak_bytes / 2**20:.0f} MiB (+{entry.resources['extra_rss_bytes'] / 2**20:.0f})")
            log(entry)
            entries.append(entry)
        shutil.rmtree(staged.work, ignore_errors=True)
        if key is not None:
            write_json(staged.dir / EXPORT_KEY, key)
        if any(e.ok for e in entries):
            _publish(staged, entries, artifacts_dir, spec.name, pinned)
        else:  # nothing worth serving: publish nothing, so `--version N` can simply be run again
            for e in entries:
                e.path = e.files = None
                e.error = e.error or f"version {version_} not published: no cell of it passed"
    return entries
