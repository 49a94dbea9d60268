"""The `onnx` entries of the export manifest as the server needs them: which (model, version) pairs to serve,
each with its file, hash and model spec, and each model's labels.

Schema 3 (NOTES.md "Artifacts layout and manifest"): entries keyed by (model_name, format, version) plus a
"models" section with each model's labels and retired versions. The SERVED set of a model is its versions
with an ok onnx entry that are not retired. Schema 2 (one version per model, no labels) is still read.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from rosetta.spec import ModelSpec, SpecError, check_model_name

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SCHEMA_VERSIONS = (2, 3)


class ManifestError(Exception):
    """The manifest is missing, unreadable or lacks what serving needs."""


@dataclass(frozen=True)
class ServedModel:
    """One version of a model to serve: what the manifest says about its ONNX artifact."""

    name: str
    version: int
    source: Path  # the artifact file the manifest points at
    sha256: str
    spec: ModelSpec

    @property
    def key(self) -> tuple[str, int]:
        return self.name, self.version


@dataclass(frozen=True)
class ServedSet:
    """Every served (model, version), and per model its labels (each pointing at one of its served versions)."""

    versions: tuple[ServedModel, ...]
    labels: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return sorted({m.name for m in self.versions})


def _entry(raw: dict, artifacts: Path, where: str) -> ServedModel:
    try:
        name = check_model_name(raw["model_name"])
        spec = ModelSpec.from_json(raw["spec"])
        version = raw["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"version must be a positive integer, got {version!r}")
        return ServedModel(name=name, version=version, source=artifacts / raw["path"],
                           sha256=raw["sha256"].lower(), spec=spec if spec.name == name else spec.renamed(name))
    except SpecError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ManifestError(f"{where}: missing or malformed field ({exc!r})") from None


def _model_records(manifest: dict, where: str) -> dict[str, tuple[dict[str, int], set[int]]]:
    """model name -> (labels, retired versions) from the schema-3 "models" section."""
    records = manifest.get("models", {})
    if not isinstance(records, dict):
        raise ManifestError(f"{where}: 'models' must be an object of model records")
    out = {}
    for name, record in records.items():
        try:
            labels = {str(label): int(v) for label, v in (record.get("labels") or {}).items()}
            retired = {int(v) for v in record.get("retired") or []}
        except (AttributeError, TypeError, ValueError) as exc:
            raise ManifestError(f"{where}: models[{name!r}]: malformed labels or retired ({exc})") from None
        out[name] = (labels, retired)
    return out


def read_served(artifacts: Path) -> ServedSet:
    """The served set of every model. Failed exports and retired versions are skipped (failed ones with a
    warning), labels pointing at a version that is not served are dropped with a warning."""
    path = Path(artifacts) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: missing; run `rosetta export` first or pass --artifacts DIR") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable ({exc})") from None
    found = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if found not in SCHEMA_VERSIONS:
        readable = " or ".join(map(str, SCHEMA_VERSIONS))
        raise ManifestError(f"{path}: schema_version {found!r}, the server reads {readable} "
                            "(entries with a model spec); re-run `rosetta export`")
    records = _model_records(manifest, str(path)) if found == 3 else {}
    models = []
    for i, raw in enumerate(manifest.get("artifacts", [])):
        if not isinstance(raw, dict) or raw.get("format") != "onnx":
            continue
        if raw.get("status") != "ok":
            log.warning("not serving %s v%s: its export status is %r", raw.get("model_name"), raw.get("version"),
                        raw.get("status"))
            continue
        model = _entry(raw, Path(artifacts), f"{path}: artifacts[{i}]")
        if model.version not in records.get(model.name, ({}, set()))[1]:
            models.append(model)
    if not models:
        raise ManifestError(f"{path}: no onnx artifact with status ok")
    keys = [m.key for m in models]
    if len(set(keys)) != len(keys):
        duplicates = sorted({f"{n} v{v}" for n, v in keys if keys.count((n, v)) > 1})
        raise ManifestError(f"{path}: more than one onnx entry for {duplicates}")
    labels: dict[str, dict[str, int]] = {}
    for name, (wanted, _) in records.items():
        served = {m.version for m in models if m.name == name}
        for label, version in wanted.items():
            if version in served:
                labels.setdefault(name, {})[label] = version
            else:
                log.warning("%s: label %r points at version %d, which is not served", name, label, version)
    return ServedSet(tuple(sorted(models, key=lambda m: m.key)), labels)


def load_served_models(artifacts: Path) -> list[ServedModel]:
    """Every served (model, version), ordered by name then version."""
    return list(read_served(artifacts).versions)
