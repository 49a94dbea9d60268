"""The site's catalogue: each model's mobile and browser artifacts, read from a schema-3 manifest (the newest
ok version of each format, exporters.manifest.latest).

Only what a phone or a browser runs is offered: LiteRT (int8 and fp32), TF.js graph models and ONNX (for
onnxruntime-web). Entries are grouped by `model_name` (built-in or user models alike); a model's contract is
its entries' `spec`. A cell that is absent or did not pass its gate is listed as unavailable, never shipped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from exporters import manifest as manifest_schema
from rosetta.spec import ModelSpec, SpecError, check_model_name

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = manifest_schema.SCHEMA_VERSION  # entries keyed by (model_name, format, version), with a spec
WEB_FORMATS = ("tflite-int8", "tflite-fp32", "tfjs", "onnx")  # table and archive order
_ENTRY_KEYS = ("model_name", "format", "version", "status", "spec")
_SHIPPED_KEYS = ("path", "bytes", "sha256", "parity", "signature")


class SiteError(Exception):
    """The manifest or an artifact it names is missing, malformed or not what the manifest says."""


@dataclass(frozen=True)
class ArtifactFile:
    name: str  # path inside the artifact's format dir, e.g. "model.json" or "group1-shard1of1.bin"
    source: Path
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Artifact:
    model_name: str
    format: str
    entry: dict[str, Any]  # the manifest entry, unchanged
    main: str  # the file a runtime opens (model.tflite, model.json, model.onnx)
    files: tuple[ArtifactFile, ...]


@dataclass(frozen=True)
class Model:
    name: str
    spec: ModelSpec
    lane: str | None  # the framework it came from, when the manifest says
    artifacts: tuple[Artifact, ...]

    def get(self, fmt: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.format == fmt), None)


@dataclass(frozen=True)
class Catalogue:
    manifest: dict[str, Any]
    models: tuple[Model, ...]  # sorted by name, each with at least one shippable artifact
    unavailable: tuple[dict[str, str], ...]  # {"model_name", "format", "reason"}

    @property
    def artifacts(self) -> list[Artifact]:
        return [a for m in self.models for a in m.artifacts]

    def model(self, name: str) -> Model:
        return next(m for m in self.models if m.name == name)


def load_manifest(artifacts_dir: Path) -> dict[str, Any]:
    path = Path(artifacts_dir) / MANIFEST
    if not path.is_file():
        raise SiteError(f"{path}: missing; run `rosetta export` (make export) to produce the artifacts first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SiteError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise SiteError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("schema_version") != MANIFEST_SCHEMA:
        raise SiteError(f"{path}: schema_version {manifest.get('schema_version')!r}, expected {MANIFEST_SCHEMA}; "
                        "re-run `rosetta export`")
    entries = manifest.get("artifacts")
    if not isinstance(entries, list):
        raise SiteError(f"{path}: 'artifacts' must be a list of entries")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or any(k not in entry for k in _ENTRY_KEYS):
            raise SiteError(f"{path}: artifacts[{i}] must be an object with {', '.join(_ENTRY_KEYS)}")
        if isinstance(entry["version"], bool) or not isinstance(entry["version"], int):
            raise SiteError(f"{path}: artifacts[{i}]: version {entry['version']!r} is not an integer")
    return manifest


def collect(artifacts_dir: Path) -> Catalogue:
    """Read and check the manifest; the web formats that passed become Artifacts, the rest are unavailable."""
    artifacts_dir = Path(artifacts_dir)
    manifest = load_manifest(artifacts_dir)
    by_model: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in manifest_schema.latest(manifest):  # the site offers each format's newest ok version
        by_model.setdefault(str(entry["model_name"]), {})[entry["format"]] = entry
    models, unavailable = [], []
    for name in sorted(by_model):
        cells = by_model[name]
        where = f"{artifacts_dir / MANIFEST}: {name}"
        try:
            check_model_name(name)  # it becomes a directory of the site and a URL path segment
        except SpecError as exc:
            raise SiteError(f"{artifacts_dir / MANIFEST}: {exc}") from None
        spec, spec_version = _spec(cells, where)
        found = []
        for fmt in WEB_FORMATS:
            entry = cells.get(fmt)
            if entry is None:
                unavailable.append({"model_name": name, "format": fmt, "reason": "not in the manifest"})
            elif entry["spec"] != spec.to_json() and entry["status"] == "ok":
                unavailable.append({"model_name": name, "format": fmt,
                                    "reason": f"its newest version ({entry['version']}) has another spec than "
                                              f"version {spec_version}, which the page describes"})
            elif entry["status"] != "ok":
                reason = f"status {entry['status']}" + (f": {entry['error']}" if entry.get("error") else "")
                unavailable.append({"model_name": name, "format": fmt, "reason": reason})
            else:
                found.append(_artifact(artifacts_dir, entry, f"{where}/{fmt}"))
        if found:
            lane = next((e["lane"] for e in cells.values() if isinstance(e.get("lane"), str)), None)
            models.append(Model(name, spec, lane, tuple(found)))
    if not models:
        raise SiteError(f"{artifacts_dir / MANIFEST}: no {'/'.join(WEB_FORMATS)} artifact with status ok")
    return Catalogue(manifest, tuple(models), tuple(unavailable))


def _spec(cells: dict[str, dict[str, Any]], where: str) -> tuple[ModelSpec, int]:
    """The spec of the model's newest offered version (every snippet and the demo are made from it), and that
    version. Entries of one version must agree on it; a format whose newest version is an older one with another
    spec is not offered beside it (collect)."""
    by_version: dict[int, list[Any]] = {}
    for e in cells.values():
        by_version.setdefault(e["version"], []).append(e["spec"])
    for version, raw in by_version.items():
        if any(r != raw[0] for r in raw):
            raise SiteError(f"{where}: entries disagree on the model spec (version {version})")
    newest = max(cells.values(), key=lambda e: (e["status"] == "ok", e["version"]))
    try:
        return ModelSpec.from_json(newest["spec"]), newest["version"]
    except (SpecError, AttributeError) as exc:
        raise SiteError(f"{where}: bad spec ({exc})") from None


def _artifact(artifacts_dir: Path, entry: dict[str, Any], where: str) -> Artifact:
    name, fmt = entry["model_name"], entry["format"]
    missing = [k for k in _SHIPPED_KEYS if k not in entry]
    if missing:
        raise SiteError(f"{where}: entry lacks {', '.join(missing)}")
    sig = entry["signature"]
    if not isinstance(sig, dict) or not isinstance(sig.get("inputs"), list) or not isinstance(sig.get("outputs"), list):
        raise SiteError(f"{where}: signature needs 'inputs' and 'outputs' lists")
    if not isinstance(entry["parity"], dict):
        raise SiteError(f"{where}: parity must be an object")
    if not _is_size_and_digest(entry):
        raise SiteError(f"{where}: bytes must be an integer and sha256 a hex string")
    main = _relative(entry["path"], where)
    fmt_dir = manifest_schema.format_dir(entry)  # multi-file listings are relative to <model_name>/<N>/<format>/
    if "files" in entry:
        listed = entry["files"]
        if not isinstance(listed, list) or not all(isinstance(f, dict) and "path" in f and _is_size_and_digest(f)
                                                    for f in listed):
            raise SiteError(f"{where}: 'files' must list objects with path, bytes and sha256")
        names = [_relative(f["path"], where) for f in listed]
        files = tuple(ArtifactFile(str(n), artifacts_dir / fmt_dir / n, f["bytes"], f["sha256"])
                      for n, f in zip(names, listed))
        try:
            main_name = str(main.relative_to(fmt_dir))
        except ValueError:
            raise SiteError(f"{where}: path {entry['path']!r} is not inside {fmt_dir}/") from None
        if main_name not in {f.name for f in files}:
            raise SiteError(f"{where}: path {entry['path']!r} is not among its listed files")
    else:
        main_name = main.name
        files = (ArtifactFile(main_name, artifacts_dir / main, entry["bytes"], entry["sha256"]),)
    return Artifact(name, fmt, entry, main_name, files)


def _is_size_and_digest(record: dict[str, Any]) -> bool:
    size, digest = record.get("bytes"), record.get("sha256")
    return (isinstance(size, int) and size >= 0 and isinstance(digest, str) and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest))


def _relative(path: Any, where: str) -> PurePosixPath:
    """A manifest path must stay inside the artifacts dir: relative, no '..'."""
    p = PurePosixPath(str(path))
    if not str(path) or p.is_absolute() or ".." in p.parts:
        raise SiteError(f"{where}: path {path!r} must be relative and inside the artifacts dir")
    return p
