"""The site's catalogue: each model's mobile and browser artifacts, read from the manifest (the newest ok version
of each format, Manifest.latest).

Only what a phone, a browser or an edge device runs is offered: LiteRT (int8 and fp32), TF.js graph models
and ONNX (for onnxruntime-web), and where the model reached them LiteRT fp16, ONNX fp16/int8 (ONNX Runtime),
OpenVINO IR and ExecuTorch programs. Entries are grouped by `model_name` (built-in or user models alike); a
model's contract is its entries' `spec`. A cell of WEB_FORMATS that is absent, or of any offered format that
did not pass its gate, is listed as unavailable, never shipped (a lane that does not reach an EXTRA_FORMATS
format, e.g. ExecuTorch from Keras, simply does not offer it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from rosetta.core import manifest
from rosetta.core.manifest import Entry, Manifest, ManifestError
from rosetta.core.spec import ModelSpec

WEB_FORMATS = ("tflite-int8", "tflite-fp32", "tfjs", "onnx")  # table order; every model has them
# offered when exported (opt-in for some models, out of reach for some lanes)
EXTRA_FORMATS = ("tflite-int16x8", "tflite-dynamic-int8", "tflite-fp16", "onnx-fp16", "onnx-int8", "openvino",
                 "executorch")
OFFERED_FORMATS = WEB_FORMATS + EXTRA_FORMATS


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
    entry: Entry  # the manifest entry, unchanged
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
    manifest: Manifest
    models: tuple[Model, ...]  # sorted by name, each with at least one shippable artifact
    unavailable: tuple[dict[str, str], ...]  # {"model_name", "format", "reason"}

    @property
    def artifacts(self) -> list[Artifact]:
        return [a for m in self.models for a in m.artifacts]

    def model(self, name: str) -> Model:
        return next(m for m in self.models if m.name == name)


def load_manifest(artifacts_dir: Path) -> Manifest:
    try:
        return manifest.load(artifacts_dir, missing_ok=False)
    except ManifestError as exc:
        raise SiteError(f"{exc} (`rosetta export` or `make export` produces the artifacts)") from None


def collect(artifacts_dir: Path) -> Catalogue:
    """Read and check the manifest; the web formats that passed become Artifacts, the rest are unavailable."""
    artifacts_dir = Path(artifacts_dir)
    current = load_manifest(artifacts_dir)
    where_manifest = manifest.path_of(artifacts_dir)
    by_model: dict[str, dict[str, Entry]] = {}
    for entry in current.latest():  # the site offers each format's newest ok version
        by_model.setdefault(entry.model_name, {})[entry.format] = entry
    models, unavailable = [], []
    for name in sorted(by_model):
        cells = by_model[name]
        where = f"{where_manifest}: {name}"
        spec, spec_version = _spec(cells, where)
        found = []
        for fmt in OFFERED_FORMATS:
            entry = cells.get(fmt)
            if entry is None and fmt in EXTRA_FORMATS:
                continue
            if entry is None:
                unavailable.append({"model_name": name, "format": fmt, "reason": "not in the manifest"})
            elif entry.spec != spec and entry.ok:
                unavailable.append({"model_name": name, "format": fmt,
                                    "reason": f"its newest version ({entry.version}) has another spec than "
                                              f"version {spec_version}, which the page describes"})
            elif not entry.ok:
                reason = f"status {entry.status}" + (f": {entry.error}" if entry.error else "")
                unavailable.append({"model_name": name, "format": fmt, "reason": reason})
            else:
                found.append(_artifact(artifacts_dir, entry, f"{where}/{fmt}"))
        if found:
            lane = next((e.lane for e in cells.values() if e.lane), None)
            models.append(Model(name, spec, lane, tuple(found)))
    if not models:
        raise SiteError(f"{where_manifest}: no {'/'.join(WEB_FORMATS)} artifact with status ok")
    return Catalogue(current, tuple(models), tuple(unavailable))


def _spec(cells: dict[str, Entry], where: str) -> tuple[ModelSpec, int]:
    """The spec of the model's newest offered version (every snippet and the demo are made from it), and that
    version. Entries of one version must agree on it; a format whose newest version is an older one with another
    spec is not offered beside it (collect)."""
    by_version: dict[int, list[ModelSpec]] = {}
    for e in cells.values():
        by_version.setdefault(e.version, []).append(e.spec)
    for version, specs in by_version.items():
        if any(s != specs[0] for s in specs):
            raise SiteError(f"{where}: entries disagree on the model spec (version {version})")
    newest = max(cells.values(), key=lambda e: (e.ok, e.version))
    return newest.spec, newest.version


def _artifact(artifacts_dir: Path, entry: Entry, where: str) -> Artifact:
    missing = [k for k in ("path", "bytes", "sha256", "parity", "signature") if getattr(entry, k) is None]
    if missing:
        raise SiteError(f"{where}: entry lacks {', '.join(missing)}")
    sig = entry.signature
    if not isinstance(sig, dict) or not isinstance(sig.get("inputs"), list) or not isinstance(sig.get("outputs"), list):
        raise SiteError(f"{where}: signature needs 'inputs' and 'outputs' lists")
    if not _is_size_and_digest({"bytes": entry.bytes, "sha256": entry.sha256}):
        raise SiteError(f"{where}: bytes must be an integer and sha256 a hex string")
    main = _relative(entry.path, where)
    fmt_dir = entry.format_dir()  # multi-file listings are relative to <model_name>/<N>/<format>/
    if entry.files is not None:
        listed = entry.files
        if not isinstance(listed, list) or not all(isinstance(f, dict) and "path" in f and _is_size_and_digest(f)
                                                    for f in listed):
            raise SiteError(f"{where}: 'files' must list objects with path, bytes and sha256")
        names = [_relative(f["path"], where) for f in listed]
        files = tuple(ArtifactFile(str(n), artifacts_dir / fmt_dir / n, f["bytes"], f["sha256"])
                      for n, f in zip(names, listed))
        try:
            main_name = str(main.relative_to(fmt_dir))
        except ValueError:
            raise SiteError(f"{where}: path {entry.path!r} is not inside {fmt_dir}/") from None
        if main_name not in {f.name for f in files}:
            raise SiteError(f"{where}: path {entry.path!r} is not among its listed files")
    else:
        main_name = main.name
        files = (ArtifactFile(main_name, artifacts_dir / main, entry.bytes, entry.sha256),)
    return Artifact(entry.model_name, entry.format, entry, main_name, files)


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
