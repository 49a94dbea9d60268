"""DIR/manifest.json: one entry per (model, format, version) artifact, each carrying its model's spec, plus each
model's release record (labels, retired versions).

Schema 3 (NOTES.md "Artifacts layout and manifest"): entries keyed by (`model_name`, `format`, `version`), their
`path` inside the version directory `<model_name>/<N>/`; `spec` is the model's contract (ModelSpec.to_json) that
servers and the site read; `lane` is the source framework. `models[<model_name>]` = {"labels": {"stable": N,
"canary": M}, "retired": [...]}. Every write merges with what is there, under a file lock, atomically.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from rosetta.atomic import write_json
from rosetta.file_lock import locked
from rosetta.spec import ModelSpec
from rosetta.versions import versions

SCHEMA_VERSION = 3
MANIFEST = "manifest.json"
LOCK = ".manifest.lock"  # guards every read-modify-write of the manifest (exports, `rosetta release`)
LABELS = ("stable", "canary")


class ReleaseError(Exception):
    """A release request the manifest cannot satisfy; the message says which version and why."""


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


def empty() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "artifacts": [], "models": {}}


def load(artifacts_dir: Path) -> dict[str, Any]:
    """The manifest, or an empty schema-3 one when there is none yet."""
    path = Path(artifacts_dir) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else empty()


def spec_of(entry: dict[str, Any]) -> ModelSpec:
    return ModelSpec.from_json(entry["spec"])


def key(entry: dict[str, Any]) -> tuple[str, str, int]:
    return entry["model_name"], entry["format"], int(entry["version"])


def version_file(artifacts_dir: Path, entry: dict[str, Any], filename: str) -> Path:
    """A per-version data file (source_outputs.npz, sample_inputs.npz, validation_labels.npy) of an entry's
    version: it sits in the version directory, `<model_name>/<N>/`, beside the artifacts."""
    return Path(artifacts_dir) / entry["model_name"] / str(int(entry["version"])) / filename


def format_dir(entry: dict[str, Any]) -> PurePosixPath:
    """`<model_name>/<N>/<format>`, relative to DIR: what a multi-file entry's `files` are listed relative to."""
    return PurePosixPath(entry["model_name"], str(int(entry["version"])), entry["format"])


def record(manifest: dict[str, Any], model_name: str) -> dict[str, Any]:
    """The model's release record (a copy); a model with no ok version yet has empty labels."""
    found = manifest.get("models", {}).get(model_name, {})
    return {"labels": dict(found.get("labels", {})), "retired": sorted(found.get("retired", []))}


def ok_versions(manifest: dict[str, Any], model_name: str, fmt: str | None = None) -> list[int]:
    """Versions of the model with an ok entry (of `fmt`, or of any format)."""
    return sorted({int(e["version"]) for e in manifest.get("artifacts", [])
                   if e["model_name"] == model_name and e["status"] == "ok" and (fmt is None or e["format"] == fmt)})


def recorded_versions(artifacts_dir: Path, model_name: str) -> list[int]:
    """Versions of the model the current (schema-3) manifest records as ok; an older manifest records none."""
    current = load(artifacts_dir)
    return ok_versions(current, model_name) if current.get("schema_version") == SCHEMA_VERSION else []


def served_versions(manifest: dict[str, Any], model_name: str, fmt: str) -> list[int]:
    """The SERVED set of a server reading `fmt`: versions with an ok `fmt` artifact that are not retired."""
    retired = set(record(manifest, model_name)["retired"])
    return [v for v in ok_versions(manifest, model_name, fmt) if v not in retired]


def latest(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per (model, format), for readers that show only the newest: the highest ok, non-retired version;
    when there is none, the newest attempt (so a reader can still say why that format is unavailable).
    Sorted by model name, then format."""
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in manifest.get("artifacts", []):
        by_cell.setdefault((e["model_name"], e["format"]), []).append(e)
    chosen = []
    for (model_name, _), cell in sorted(by_cell.items()):
        retired = set(record(manifest, model_name)["retired"])
        ok = [e for e in cell if e["status"] == "ok" and int(e["version"]) not in retired]
        chosen.append(max(ok or cell, key=lambda e: int(e["version"])))
    return chosen


def _label_new_versions(models: dict[str, Any], entries: Iterable[dict[str, Any]]) -> None:
    """First ok version of a model becomes `stable`; a later ok version becomes `canary` (stable is kept)."""
    published: dict[str, set[int]] = {}
    for e in entries:
        if e["status"] == "ok":
            published.setdefault(e["model_name"], set()).add(int(e["version"]))
    for model_name, new in published.items():
        rec = models.setdefault(model_name, {"labels": {}, "retired": []})
        labels = rec.setdefault("labels", {})
        rec.setdefault("retired", [])
        for v in sorted(new):
            if "stable" not in labels:
                labels["stable"] = v
            elif v > labels["stable"] and v > labels.get("canary", 0):
                labels["canary"] = v


def _save(artifacts_dir: Path, manifest: dict[str, Any]) -> Path:
    manifest["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = Path(artifacts_dir) / MANIFEST
    write_json(path, manifest)
    return path


def _current(artifacts_dir: Path) -> dict[str, Any]:
    previous = load(artifacts_dir)
    if previous.get("schema_version") != SCHEMA_VERSION:
        return empty()  # an older layout's entries point at files this layout does not have
    previous.setdefault("models", {})
    previous.setdefault("artifacts", [])
    return previous


def write(artifacts_dir: Path, entries: list[dict[str, Any]]) -> Path:
    """Merge new entries over the existing manifest (other models and versions are kept; the same (model,
    format, version) is replaced) and label newly published versions, under the manifest lock."""
    with locked(Path(artifacts_dir) / LOCK):
        current = _current(artifacts_dir)
        merged = {key(e): e for e in current["artifacts"]}
        merged.update({key(e): e for e in entries})
        _label_new_versions(current["models"], entries)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "created": None,  # set on save
            "tool_versions": versions("tensorflow", "keras", "torch", "jax", "flax", "onnx", "onnxruntime",
                                      "onnxscript", "tf2onnx", "onnx2tf", "jax2onnx", "tensorflowjs",
                                      "ai-edge-litert"),
            "models": dict(sorted(current["models"].items())),
            "artifacts": sorted(merged.values(), key=key),
        }
        return _save(artifacts_dir, manifest)


def release(artifacts_dir: Path, model_name: str, stable: int | None = None, canary: int | str | None = None,
            retire: Iterable[int] = (), unretire: Iterable[int] = ()) -> dict[str, Any]:
    """Move a model's labels and retired list; returns its new record. `canary="none"` drops the canary label.

    Rules: a label points at a version with an ok artifact that is not retired; stable and canary differ; a
    labelled version cannot be retired. Nothing is written unless the whole request is valid."""
    with locked(Path(artifacts_dir) / LOCK):
        manifest = _current(artifacts_dir)
        known = ok_versions(manifest, model_name)
        if not known:
            names = sorted({e["model_name"] for e in manifest["artifacts"]})
            raise ReleaseError(f"{model_name}: no ok version in {Path(artifacts_dir) / MANIFEST}"
                               + (f"; models there: {', '.join(names)}" if names else ""))
        rec = record(manifest, model_name)
        labels, retired = rec["labels"], set(rec["retired"])
        for v in unretire:
            if v not in retired:
                raise ReleaseError(f"{model_name}: version {v} is not retired")
            retired.discard(v)
        for v in retire:
            if v not in {int(e["version"]) for e in manifest["artifacts"] if e["model_name"] == model_name}:
                raise ReleaseError(f"{model_name}: no version {v} to retire; versions: {known}")
            retired.add(v)
        if stable is not None:
            labels["stable"] = stable
        if canary == "none":
            labels.pop("canary", None)
        elif canary is not None:
            labels["canary"] = int(canary)
        for label, v in labels.items():
            if v not in known:
                raise ReleaseError(f"{model_name}: {label} -> version {v}, which has no ok artifact; "
                                   f"ok versions: {known}")
            if v in retired:
                raise ReleaseError(f"{model_name}: version {v} is labelled {label} and cannot be retired; "
                                   "move the label first")
        if "stable" not in labels:
            raise ReleaseError(f"{model_name}: no stable version; give --stable N")
        if labels.get("canary") == labels["stable"]:
            raise ReleaseError(f"{model_name}: stable and canary are both version {labels['stable']}; "
                               "use --canary none to drop the canary")
        manifest["models"][model_name] = {"labels": {k: labels[k] for k in LABELS if k in labels},
                                          "retired": sorted(retired)}
        _save(artifacts_dir, manifest)
        return manifest["models"][model_name]
