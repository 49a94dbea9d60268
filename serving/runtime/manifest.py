"""The `onnx` entries of the export manifest (schema v2) as the server needs them: name, version, file, hash,
and the model spec (every input and output with its datatype and shape)."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from rosetta.spec import ModelSpec, SpecError, check_model_name

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SCHEMA_VERSION = 2


class ManifestError(Exception):
    """The manifest is missing, unreadable or lacks what serving needs."""


@dataclass(frozen=True)
class ServedModel:
    """One model to serve: what the manifest says about its ONNX artifact."""

    name: str
    version: int
    source: Path  # the artifact file the manifest points at
    sha256: str
    spec: ModelSpec


def _entry(raw: dict, artifacts: Path, where: str) -> ServedModel:
    try:
        name = check_model_name(raw["model_name"])
        spec = ModelSpec.from_json(raw["spec"])
        return ServedModel(name=name, version=int(raw["version"]), source=artifacts / raw["path"],
                           sha256=raw["sha256"].lower(), spec=spec if spec.name == name else spec.renamed(name))
    except SpecError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ManifestError(f"{where}: missing or malformed field ({exc!r})") from None


def load_served_models(artifacts: Path) -> list[ServedModel]:
    """Every `onnx` artifact with status ok; failed exports are skipped with a warning, never served."""
    path = Path(artifacts) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: missing; run `rosetta export` first or pass --artifacts DIR") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        found = manifest.get("schema_version") if isinstance(manifest, dict) else None
        raise ManifestError(f"{path}: schema_version {found!r}, the server reads {SCHEMA_VERSION} "
                            "(entries with a model spec); re-run `rosetta export`")
    models = []
    for i, raw in enumerate(manifest.get("artifacts", [])):
        if not isinstance(raw, dict) or raw.get("format") != "onnx":
            continue
        if raw.get("status") != "ok":
            log.warning("not serving %s: its export status is %r", raw.get("model_name"), raw.get("status"))
            continue
        models.append(_entry(raw, Path(artifacts), f"{path}: artifacts[{i}]"))
    if not models:
        raise ManifestError(f"{path}: no onnx artifact with status ok")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ManifestError(f"{path}: duplicate onnx model names {sorted(names)}")
    return models
