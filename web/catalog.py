"""The site's catalogue: each lane's mobile and browser artifacts, read from the manifest and checked for shape.

Only what a phone or a browser runs is offered: LiteRT (int8 and fp32), TF.js graph models and ONNX (for
onnxruntime-web). A cell that is absent or did not pass its gate is listed as unavailable, never shipped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from exporters.manifest import MANIFEST, SCHEMA_VERSION
from rosetta.contract import LANES

WEB_FORMATS = ("tflite-int8", "tflite-fp32", "tfjs", "onnx")  # table and archive order
_ENTRY_KEYS = ("lane", "format", "status")
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
    lane: str
    format: str
    entry: dict[str, Any]  # the manifest entry, unchanged
    main: str  # the file a runtime opens (model.tflite, model.json, model.onnx)
    files: tuple[ArtifactFile, ...]

    @property
    def quantization(self) -> dict[str, dict[str, float | int]]:
        """{"input": {...}, "output": {...}} for integer-only models, else {}."""
        sig = self.entry["signature"]
        return {side: specs[0]["quantization"] for side, specs in (("input", sig["inputs"]), ("output", sig["outputs"]))
                if specs and "quantization" in specs[0]}


@dataclass(frozen=True)
class Catalogue:
    manifest: dict[str, Any]
    artifacts: tuple[Artifact, ...]
    unavailable: tuple[dict[str, str], ...]  # {"lane", "format", "reason"}

    @property
    def lanes(self) -> list[str]:
        present = {a.lane for a in self.artifacts}
        return [lane for lane in LANES if lane in present]

    def of_lane(self, lane: str) -> list[Artifact]:
        return [a for a in self.artifacts if a.lane == lane]

    def get(self, lane: str, fmt: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.lane == lane and a.format == fmt), None)


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
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise SiteError(f"{path}: schema_version {manifest.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    entries = manifest.get("artifacts")
    if not isinstance(entries, list):
        raise SiteError(f"{path}: 'artifacts' must be a list of entries")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or any(k not in entry for k in _ENTRY_KEYS):
            raise SiteError(f"{path}: artifacts[{i}] must be an object with {', '.join(_ENTRY_KEYS)}")
    return manifest


def collect(artifacts_dir: Path) -> Catalogue:
    """Read and check the manifest; the web formats that passed become Artifacts, the rest are unavailable."""
    artifacts_dir = Path(artifacts_dir)
    manifest = load_manifest(artifacts_dir)
    by_cell = {(e["lane"], e["format"]): e for e in manifest["artifacts"]}
    lanes = [lane for lane in LANES if any(lane == e["lane"] for e in manifest["artifacts"])]
    found, unavailable = [], []
    for lane in lanes:
        for fmt in WEB_FORMATS:
            entry = by_cell.get((lane, fmt))
            if entry is None:
                unavailable.append({"lane": lane, "format": fmt, "reason": "not in the manifest"})
            elif entry["status"] != "ok":
                reason = f"status {entry['status']}" + (f": {entry['error']}" if entry.get("error") else "")
                unavailable.append({"lane": lane, "format": fmt, "reason": reason})
            else:
                found.append(_artifact(artifacts_dir, entry))
    if not found:
        raise SiteError(f"{artifacts_dir / MANIFEST}: no {'/'.join(WEB_FORMATS)} artifact with status ok")
    return Catalogue(manifest, tuple(found), tuple(unavailable))


def _artifact(artifacts_dir: Path, entry: dict[str, Any]) -> Artifact:
    lane, fmt = entry["lane"], entry["format"]
    where = f"{artifacts_dir / MANIFEST}: {lane}/{fmt}"
    missing = [k for k in _SHIPPED_KEYS if k not in entry]
    if missing:
        raise SiteError(f"{where}: entry lacks {', '.join(missing)}")
    sig = entry["signature"]
    if not isinstance(sig, dict) or not isinstance(sig.get("inputs"), list) or not isinstance(sig.get("outputs"), list):
        raise SiteError(f"{where}: signature needs 'inputs' and 'outputs' lists")
    if not isinstance(entry["parity"], dict) or "accuracy" not in entry["parity"]:
        raise SiteError(f"{where}: parity needs an 'accuracy'")
    if not _is_size_and_digest(entry):
        raise SiteError(f"{where}: bytes must be an integer and sha256 a hex string")
    main = _relative(entry["path"], where)
    fmt_dir = artifacts_dir / lane / fmt  # multi-file listings are relative to it (exporters/pipeline.py)
    if "files" in entry:
        listed = entry["files"]
        if not isinstance(listed, list) or not all(isinstance(f, dict) and "path" in f and _is_size_and_digest(f)
                                                    for f in listed):
            raise SiteError(f"{where}: 'files' must list objects with path, bytes and sha256")
        names = [_relative(f["path"], where) for f in listed]
        files = tuple(ArtifactFile(str(name), fmt_dir / name, f["bytes"], f["sha256"])
                      for name, f in zip(names, listed))
        try:
            main_name = str(main.relative_to(PurePosixPath(lane, fmt)))
        except ValueError:
            raise SiteError(f"{where}: path {entry['path']!r} is not inside {lane}/{fmt}/") from None
        if main_name not in {f.name for f in files}:
            raise SiteError(f"{where}: path {entry['path']!r} is not among its listed files")
    else:
        main_name = main.name
        files = (ArtifactFile(main_name, artifacts_dir / main, entry["bytes"], entry["sha256"]),)
    return Artifact(lane, fmt, entry, main_name, files)


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
