"""DIR/manifest.json, the record of every export, and the one module that reads or writes it.

One entry per (model, format, version) artifact, each carrying its model's spec (what servers and the site read),
and per model its release record (stable/canary labels, retired versions). Schema 3:

    {"schema_version": 3, "created": ..., "tool_versions": {...},
     "models": {"<model>": {"labels": {"stable": N, "canary": M}, "retired": [...]}},
     "artifacts": [Entry.to_json(), ...]}

Entries' `path` is relative to DIR, inside the version directory `<model>/<N>/`. Every write merges with what
is there under a file lock (DIR/.manifest.lock) and replaces the file atomically. The served set (what both
servers serve, `served`) and a reader's view of the newest version per format (`latest`) are defined here only.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from rosetta.core.atomic import write_json
from rosetta.core.file_lock import locked
from rosetta.core.spec import ModelSpec, SpecError, check_model_name
from rosetta.core.tool_versions import versions

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
FILENAME = "manifest.json"
LOCK = ".manifest.lock"  # guards every read-modify-write of the manifest (exports, `rosetta release`)
LABELS = ("stable", "canary")
STATUSES = ("ok", "gate-failed", "failed", "skipped")  # skipped: the model has no form in that format (why: error)
# Recorded in every manifest: the tools an export can run.
TOOLS = ("tensorflow", "keras", "torch", "jax", "flax", "onnx", "onnxruntime", "onnxscript", "tf2onnx", "onnx2tf",
         "jax2onnx", "tensorflowjs", "ai-edge-litert")


class ManifestError(Exception):
    """The manifest is missing, unreadable or malformed; the message names the file and the entry."""


class ReleaseError(Exception):
    """A release request the manifest cannot satisfy; the message says which version and why."""


@dataclass
class Parity:
    """An artifact's outputs against its source's on the validation rows, and the format's gate."""
    examples: int
    max_abs_diff: float
    passed: bool
    argmax_agreement: float | None = None  # classifier outputs only
    accuracy: float | None = None  # with labels only
    source_accuracy: float | None = None
    outputs: dict[str, dict[str, float | str]] = field(default_factory=dict)  # per output: kind, max_abs_diff,
    # sqnr_db, cosine, nrmse and the kind's metric (argmax_agreement, label_f1); see rosetta.exporters.gates
    gate: dict[str, dict[str, float]] = field(default_factory=dict)  # per check: value, limit
    failures: list[str] = field(default_factory=list)  # each failed check, with its value and limit
    split: str = ""  # how validation and calibration rows were chosen

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Parity:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Entry:
    """One (model, format, version) cell: what was built, how, where it is and how it compares with its source."""
    model_name: str
    format: str
    version: int
    status: str  # one of STATUSES
    spec: ModelSpec
    lane: str | None = None  # the source's framework node in the export graph
    source: str | None = None  # what the model was loaded from
    path: str | None = None  # the artifact's file or directory, relative to DIR (absent when not published)
    bytes: int | None = None
    sha256: str | None = None
    files: list[dict[str, Any]] | None = None  # a directory artifact's files (path, bytes, sha256)
    converter: dict[str, Any] = field(default_factory=dict)  # {"path": "torch -> onnx", "tools": {name: version}}
    runtime: dict[str, Any] = field(default_factory=dict)  # {"name", "package", "version", ...notes}
    signature: dict[str, Any] | None = None  # the artifact's inputs and outputs as its runtime reports them
    parity: Parity | None = None
    ops: dict[str, int] | None = None  # TFLite operator histogram
    export_seconds: float | None = None
    validate_seconds: float | None = None
    # What the cell cost: wall seconds, and the exporter's process tree's RSS (start, peak, peak - start) in bytes
    resources: dict[str, Any] | None = None
    # Free axes past the batch: the shapes validated, or the static shape the artifact's format gave an axis
    shapes: dict[str, Any] | None = None
    error: str | None = None  # why a cell failed (the converter's, runtime's or gate's words)
    extra: dict[str, Any] = field(default_factory=dict)  # fields this code does not know: kept as written

    @property
    def key(self) -> tuple[str, str, int]:
        return self.model_name, self.format, self.version

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def version_dir(self, artifacts_dir: Path) -> Path:
        return Path(artifacts_dir) / self.model_name / str(self.version)

    def version_file(self, artifacts_dir: Path, filename: str) -> Path:
        """A per-version data file (source_outputs.npz, sample_inputs.npz, ...) beside the version's formats."""
        return self.version_dir(artifacts_dir) / filename

    def format_dir(self) -> PurePosixPath:
        """`<model>/<N>/<format>`, relative to DIR: what a multi-file entry's `files` are listed relative to."""
        return PurePosixPath(self.model_name, str(self.version), self.format)

    def artifact(self, artifacts_dir: Path) -> Path:
        if self.path is None:
            raise ManifestError(f"{self.model_name} v{self.version} {self.format}: not published ({self.error})")
        return Path(artifacts_dir) / self.path

    def why(self) -> str:
        """Why a cell is not ok: the gate's shortfalls, or the converter's / runtime's own error."""
        if self.parity is not None and self.parity.failures:
            return "; ".join(self.parity.failures)
        return self.error or ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or value is None or (f.name in ("converter", "runtime") and not value):
                continue
            out[f.name] = value.to_json() if hasattr(value, "to_json") else value
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, raw: Any, where: str = "entry") -> Entry:
        """An entry as written; ManifestError naming `where` and the field when it is malformed."""
        if not isinstance(raw, dict):
            raise ManifestError(f"{where}: an entry must be an object, got {type(raw).__name__}")
        try:
            name = check_model_name(raw["model_name"])
            spec = ModelSpec.from_json(raw["spec"])
            version = raw["version"]
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise ValueError(f"version must be a positive integer, got {version!r}")
            if raw["status"] not in STATUSES:
                raise ValueError(f"status {raw['status']!r} is not one of {', '.join(STATUSES)}")
            known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
            fields = {k: v for k, v in raw.items() if k in known}
            fields.update(model_name=name, spec=spec if spec.name == name else spec.renamed(name),
                          parity=Parity.from_json(raw["parity"]) if raw.get("parity") else None)
            if isinstance(fields.get("sha256"), str):
                fields["sha256"] = fields["sha256"].lower()
            return cls(**fields, extra={k: v for k, v in raw.items() if k not in known})
        except SpecError as exc:
            raise ManifestError(f"{where}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"{where}: missing or malformed field ({exc!r})") from None


@dataclass
class Release:
    """A model's release record: labels name versions; retired versions are not served."""
    labels: dict[str, int] = field(default_factory=dict)
    retired: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"labels": {k: self.labels[k] for k in LABELS if k in self.labels}, "retired": sorted(self.retired)}

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Release:
        try:
            return cls({str(k): int(v) for k, v in (raw.get("labels") or {}).items()},
                       sorted(int(v) for v in raw.get("retired") or []))
        except (AttributeError, TypeError, ValueError) as exc:
            raise ManifestError(f"{where}: malformed labels or retired ({exc})") from None


@dataclass
class Manifest:
    entries: list[Entry] = field(default_factory=list)
    models: dict[str, Release] = field(default_factory=dict)
    created: str | None = None
    tool_versions: dict[str, str] = field(default_factory=dict)

    def release(self, model_name: str) -> Release:
        """The model's release record (a copy); a model with no ok version yet has empty labels."""
        found = self.models.get(model_name, Release())
        return Release(dict(found.labels), list(found.retired))

    def model_names(self) -> list[str]:
        return sorted({e.model_name for e in self.entries})

    def versions(self, model_name: str) -> list[int]:
        return sorted({e.version for e in self.entries if e.model_name == model_name})

    def ok_versions(self, model_name: str, fmt: str | None = None) -> list[int]:
        """Versions of the model with an ok entry (of `fmt`, or of any format)."""
        return sorted({e.version for e in self.entries
                       if e.model_name == model_name and e.ok and (fmt is None or e.format == fmt)})

    def served_versions(self, model_name: str, fmt: str) -> list[int]:
        """THE served set of a server reading `fmt`: versions with an ok `fmt` entry that are not retired."""
        retired = set(self.release(model_name).retired)
        return [v for v in self.ok_versions(model_name, fmt) if v not in retired]

    def latest(self) -> list[Entry]:
        """One entry per (model, format), for readers that show only the newest: the highest ok, non-retired
        version; when there is none, the newest attempt (so a reader can say why that format is unavailable).
        Sorted by model name, then format."""
        by_cell: dict[tuple[str, str], list[Entry]] = {}
        for e in self.entries:
            by_cell.setdefault((e.model_name, e.format), []).append(e)
        chosen = []
        for (model_name, _), cell in sorted(by_cell.items()):
            retired = set(self.release(model_name).retired)
            ok = [e for e in cell if e.ok and e.version not in retired]
            chosen.append(max(ok or cell, key=lambda e: e.version))
        return chosen

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "created": self.created, "tool_versions": self.tool_versions,
                "models": {k: self.models[k].to_json() for k in sorted(self.models)},
                "artifacts": [e.to_json() for e in sorted(self.entries, key=lambda e: e.key)]}

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Manifest:
        """The schema check, once for every reader: ManifestError naming the file and the problem."""
        if not isinstance(raw, dict):
            raise ManifestError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        if raw.get("schema_version") != SCHEMA_VERSION:
            raise ManifestError(f"{where}: schema_version {raw.get('schema_version')!r}, expected {SCHEMA_VERSION}; "
                                "re-run `rosetta export`")
        artifacts, models = raw.get("artifacts", []), raw.get("models") or {}
        if not isinstance(artifacts, list):
            raise ManifestError(f"{where}: 'artifacts' must be a list of entries")
        if not isinstance(models, dict):
            raise ManifestError(f"{where}: 'models' must be an object of model records")
        return cls([Entry.from_json(e, f"{where}: artifacts[{i}]") for i, e in enumerate(artifacts)],
                   {str(k): Release.from_json(v, f"{where}: models[{k!r}]") for k, v in models.items()},
                   raw.get("created"), dict(raw.get("tool_versions") or {}))


def path_of(artifacts_dir: Path) -> Path:
    return Path(artifacts_dir) / FILENAME


def exists(artifacts_dir: Path) -> bool:
    return path_of(artifacts_dir).is_file()


def load(artifacts_dir: Path, missing_ok: bool = True) -> Manifest:
    """The manifest of DIR; an empty one when there is none yet (or ManifestError if not `missing_ok`)."""
    path = path_of(artifacts_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return Manifest()
        raise ManifestError(f"{path}: missing; run `rosetta export` first or pass --artifacts DIR") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable ({exc})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from None
    return Manifest.from_json(raw, str(path))


def _current(artifacts_dir: Path) -> Manifest:
    """What a writer merges into: the manifest, or an empty one when there is none or it is of an older schema
    (whose entries point at files this layout does not have)."""
    try:
        return load(artifacts_dir)
    except ManifestError as exc:
        if "schema_version" in str(exc):
            return Manifest()
        raise


def _save(artifacts_dir: Path, manifest: Manifest) -> Path:
    manifest.created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = path_of(artifacts_dir)
    write_json(path, manifest.to_json())
    return path


def recorded_versions(artifacts_dir: Path, model_name: str) -> list[int]:
    """Versions of the model the manifest records as ok (none when it is missing or of an older schema)."""
    return _current(artifacts_dir).ok_versions(model_name)


def _label_new_versions(models: dict[str, Release], entries: Iterable[Entry]) -> None:
    """First ok version of a model becomes `stable`; a later ok version becomes `canary` (stable is kept)."""
    published: dict[str, set[int]] = {}
    for e in entries:
        if e.ok:
            published.setdefault(e.model_name, set()).add(e.version)
    for model_name, new in published.items():
        labels = models.setdefault(model_name, Release()).labels
        for v in sorted(new):
            if "stable" not in labels:
                labels["stable"] = v
            elif v > labels["stable"] and v > labels.get("canary", 0):
                labels["canary"] = v


def write(artifacts_dir: Path, entries: list[Entry]) -> Path:
    """Merge new entries over the existing manifest (other models and versions are kept; the same (model,
    format, version) is replaced) and label newly published versions, under the manifest lock."""
    with locked(Path(artifacts_dir) / LOCK):
        current = _current(artifacts_dir)
        merged = {e.key: e for e in current.entries}
        merged.update({e.key: e for e in entries})
        _label_new_versions(current.models, entries)
        return _save(artifacts_dir, Manifest(list(merged.values()), current.models, None, versions(*TOOLS)))


def remove_versions(artifacts_dir: Path, select: Callable[[Manifest], dict[str, list[int]]]) -> dict[str, list[int]]:
    """Drop the entries of the versions `select` picks (model -> versions) from the manifest, under the manifest
    lock, and forget them in the models' retired lists; returns the pick. Their files are the caller's to
    remove, after this: a reader never meets an entry whose files are gone."""
    with locked(Path(artifacts_dir) / LOCK):
        current = _current(artifacts_dir)
        drop = {name: sorted(vs) for name, vs in select(current).items() if vs}
        if drop:
            current.entries = [e for e in current.entries if e.version not in drop.get(e.model_name, ())]
            for name, versions_ in drop.items():
                if name in current.models:
                    current.models[name].retired = [v for v in current.models[name].retired if v not in versions_]
            _save(artifacts_dir, current)
        return drop


def release(artifacts_dir: Path, model_name: str, stable: int | None = None, canary: int | str | None = None,
            retire: Iterable[int] = (), unretire: Iterable[int] = ()) -> Release:
    """Move a model's labels and retired list; returns its new record. `canary="none"` drops the canary label.

    Rules: a label points at a version with an ok artifact that is not retired; stable and canary differ; a
    labelled version cannot be retired. Nothing is written unless the whole request is valid."""
    with locked(Path(artifacts_dir) / LOCK):
        manifest = _current(artifacts_dir)
        known = manifest.ok_versions(model_name)
        if not known:
            names = manifest.model_names()
            raise ReleaseError(f"{model_name}: no ok version in {path_of(artifacts_dir)}"
                               + (f"; models there: {', '.join(names)}" if names else ""))
        rec = manifest.release(model_name)
        labels, retired = rec.labels, set(rec.retired)
        for v in unretire:
            if v not in retired:
                raise ReleaseError(f"{model_name}: version {v} is not retired")
            retired.discard(v)
        for v in retire:
            if v not in manifest.versions(model_name):
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
        manifest.models[model_name] = Release(labels, sorted(retired))
        _save(artifacts_dir, manifest)
        return manifest.models[model_name]


# --- what the servers serve ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServedVersion:
    """One version of a model a server loads: its artifact file, hash and spec."""
    name: str
    version: int
    source: Path  # the artifact the manifest points at
    sha256: str
    spec: ModelSpec
    entry: Entry = field(compare=False, repr=False)

    @property
    def key(self) -> tuple[str, int]:
        return self.name, self.version


@dataclass(frozen=True)
class ServedSet:
    """Every served (model, version) of one format, and per model its labels (each on one of its served
    versions)."""
    versions: tuple[ServedVersion, ...]
    labels: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return sorted({m.name for m in self.versions})

    def of(self, name: str) -> list[ServedVersion]:
        return [m for m in self.versions if m.name == name]


def served(artifacts_dir: Path, fmt: str, manifest: Manifest | None = None) -> ServedSet:
    """What a server of `fmt` serves: per model the versions with an ok `fmt` entry that are not retired, and the
    labels that point into that set (others are dropped with a warning: a server cannot label a version it has
    not loaded). ManifestError when the manifest is missing or malformed, or nothing is served."""
    where = path_of(artifacts_dir)
    manifest = manifest if manifest is not None else load(artifacts_dir, missing_ok=False)
    chosen = []
    for e in manifest.entries:
        if e.format != fmt:
            continue
        if not e.ok:
            log.warning("not serving %s v%s %s: its export status is %r", e.model_name, e.version, fmt, e.status)
        elif e.version in manifest.served_versions(e.model_name, fmt):
            if not e.path or not e.sha256:
                raise ManifestError(f"{where}: {e.model_name} v{e.version} {fmt}: an ok entry without path and sha256")
            chosen.append(ServedVersion(e.model_name, e.version, Path(artifacts_dir) / e.path, e.sha256, e.spec, e))
    if not chosen:
        raise ManifestError(f"{where}: no {fmt} artifact with status ok that is not retired")
    keys = [m.key for m in chosen]
    if len(set(keys)) != len(keys):
        duplicates = sorted({f"{n} v{v}" for n, v in keys if keys.count((n, v)) > 1})
        raise ManifestError(f"{where}: more than one {fmt} entry for {duplicates}")
    labels: dict[str, dict[str, int]] = {}
    for name in sorted({m.name for m in chosen}):
        versions_ = {m.version for m in chosen if m.name == name}
        for label, version in manifest.release(name).labels.items():
            if version in versions_:
                labels.setdefault(name, {})[label] = version
            else:
                log.warning("%s: label %r points at version %d, which is not served as %s", name, label, version, fmt)
    return ServedSet(tuple(sorted(chosen, key=lambda m: m.key)), labels)
