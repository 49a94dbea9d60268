"""DIR/manifest.json: one schema-versioned entry per (model, format) artifact, each carrying its model's spec.

Schema 2: entries are keyed by `model_name` (the served name) and `format`; `spec` is the model's contract
(rosetta.spec.ModelSpec.to_json) that servers and the site read; `lane` is the source framework.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rosetta.atomic import write_json
from rosetta.spec import ModelSpec
from rosetta.versions import versions

SCHEMA_VERSION = 2
MANIFEST = "manifest.json"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_files(path: Path) -> dict[str, Any]:
    """bytes + sha256 of a file, or of a directory: sha256 over its sorted 'relpath sha256' lines."""
    if path.is_file():
        return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    files = sorted(p for p in path.rglob("*") if p.is_file())
    listing = [{"path": str(p.relative_to(path)), "bytes": p.stat().st_size, "sha256": file_sha256(p)}
               for p in files]
    tree = hashlib.sha256("".join(f"{f['path']} {f['sha256']}\n" for f in listing).encode()).hexdigest()
    return {"bytes": sum(f["bytes"] for f in listing), "sha256": tree, "files": listing}


def load(artifacts_dir: Path) -> dict[str, Any]:
    path = Path(artifacts_dir) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {"artifacts": []}


def spec_of(entry: dict[str, Any]) -> ModelSpec:
    return ModelSpec.from_json(entry["spec"])


def write(artifacts_dir: Path, entries: list[dict[str, Any]]) -> Path:
    """Merge new entries over the existing manifest (a one-cell rerun keeps the other cells)."""
    key = lambda e: (e["model_name"], e["format"])  # noqa: E731
    previous = load(artifacts_dir)
    if previous.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        previous = {"artifacts": []}  # an older layout's entries point at files this layout does not have
    merged = {key(e): e for e in previous.get("artifacts", [])}
    merged.update({key(e): e for e in entries})
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tool_versions": versions("tensorflow", "keras", "torch", "jax", "flax", "onnx", "onnxruntime",
                                  "onnxscript", "tf2onnx", "onnx2tf", "jax2onnx", "tensorflowjs",
                                  "ai-edge-litert"),
        "artifacts": sorted(merged.values(), key=key),
    }
    path = Path(artifacts_dir) / MANIFEST
    write_json(path, manifest)
    return path
