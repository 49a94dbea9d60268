"""Walk the export graph for each lane: convert (atomically), validate in the real runtime, record."""
from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exporters import gates, manifest
from exporters.context import ExportContext
from exporters.graph import NODES, Edge, describe, node_path, plan
from exporters.runtimes import RUNTIMES
from models import lane as load_lane
from rosetta.atomic import atomic_dir
from rosetta.data import Split
from rosetta.versions import version

REPRESENTATIVE_IMAGES = 500  # int8 calibration sample from the training split
SOURCE_PROBABILITIES = "source_probabilities.npy"


@dataclass
class LaneExport:
    """Builds the nodes one lane's requested formats need, each once, remembering failures too."""
    lane: str
    lane_dir: Path
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
        start = time.perf_counter()
        try:
            if node.id in self.published:
                final = self.lane_dir / node.format
                with atomic_dir(final) as tmp:  # a failing converter leaves no half artifact
                    target = node_path(node, self.lane, tmp)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    edge.convert(src, target, self.ctx)
                path = node_path(node, self.lane, final)
            else:  # an intermediate (or another format's node not requested in this run)
                path = node_path(node, self.lane, self.work_dir / node.id)
                path.parent.mkdir(parents=True, exist_ok=True)
                edge.convert(src, path, self.ctx)
        except Exception as exc:  # noqa: BLE001 - any converter failure fails this node's cells only
            self.failed[edge.dst] = f"{edge.src} -> {edge.dst} failed: {type(exc).__name__}: {exc}"
            traceback.print_exc(limit=-3)  # the converter's innermost frames say why
            raise RuntimeError(self.failed[edge.dst]) from None
        self.seconds[edge.dst] = time.perf_counter() - start
        self.built[edge.dst] = path
        return path


def _describe(artifact: Path, fmt_dir: Path) -> dict[str, Any]:
    """A single-file artifact is hashed as that file; a multi-file one (SavedModel, TF.js) as its dir."""
    files = [p for p in fmt_dir.rglob("*") if p.is_file()]
    return manifest.describe_files(artifact if files == [artifact] else fmt_dir)


def _entry(lane: str, fmt: str, path_edges: list[Edge]) -> dict[str, Any]:
    runtime = RUNTIMES[fmt]
    tools = sorted({t for e in path_edges for t in e.tools})
    return {"lane": lane, "format": fmt, "model_name": f"mnist-{lane}", "version": 1,
            "converter": {"path": describe(path_edges), "tools": {t: version(t) for t in tools}},
            "runtime": {"name": runtime.name, "package": runtime.distribution,
                        "version": version(runtime.distribution)}}


def export_lane(lane: str, formats: Sequence[str], artifacts_dir: Path, train: Split, test: Split,
                log=print) -> list[dict[str, Any]]:
    """Export and validate `formats` of one lane; returns manifest entries (failed cells included)."""
    lane_module = load_lane(lane)
    lane_dir = Path(artifacts_dir) / lane
    checkpoint = lane_dir / lane_module.CHECKPOINT
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint} missing: run `rosetta train --lane {lane}` first")
    model = lane_module.load(lane_dir)
    source = lane_module.predict(model, test.images)
    np.save(lane_dir / SOURCE_PROBABILITIES, source)
    rng = np.random.default_rng(0)
    calibration = rng.choice(len(train), min(REPRESENTATIVE_IMAGES, len(train)), replace=False)
    ctx = ExportContext(lane, model, train.images[calibration],
                        test.images[:8])
    routes = plan(lane)
    entries = []
    work_dir = lane_dir / ".work"
    shutil.rmtree(work_dir, ignore_errors=True)
    published = {routes[fmt][-1].dst for fmt in formats}
    exporter = LaneExport(lane, lane_dir, published, ctx, work_dir, built={lane: checkpoint})
    try:
        for fmt in formats:
            path_edges = routes[fmt]
            entry = _entry(lane, fmt, path_edges)
            try:
                for edge in path_edges:
                    artifact = exporter.build(edge)
                entry["export_seconds"] = round(sum(exporter.seconds[e.dst] for e in path_edges), 3)
                start = time.perf_counter()
                runtime = RUNTIMES[fmt]
                probs = runtime.run(artifact, test.images)
                entry["validate_seconds"] = round(time.perf_counter() - start, 3)
                entry["parity"] = gates.parity(fmt, probs, source, test.labels)
                entry["signature"] = runtime.signature(artifact)
                entry["path"] = str(artifact.relative_to(artifacts_dir))
                entry.update(_describe(artifact, lane_dir / fmt))
                entry["status"] = "ok" if entry["parity"]["passed"] else "gate-failed"
            except Exception as exc:  # noqa: BLE001 - record, keep going with the other cells
                entry["status"], entry["error"] = "failed", str(exc)
            log(entry)
            entries.append(entry)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return entries
