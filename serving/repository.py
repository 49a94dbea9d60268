"""The versioned model repository, <repo>/<model>/<version>/model.onnx, built from the manifest.

Every file is checked against the manifest's SHA-256 when copied in and again when read for loading
(the server loads the very bytes it hashed), so a swapped or corrupted file is never served.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from serving.manifest import ModelSpec

MODEL_FILE = "model.onnx"


class IntegrityError(Exception):
    """A model file is missing or its SHA-256 differs from the manifest's."""


def model_path(repository: Path, spec: ModelSpec) -> Path:
    return Path(repository) / spec.name / str(spec.version) / MODEL_FILE


def read_verified(path: Path, spec: ModelSpec) -> bytes:
    """The file's bytes, only if their SHA-256 is the one the manifest recorded for `spec`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IntegrityError(f"{spec.name} v{spec.version}: cannot read {path} ({exc.strerror})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise IntegrityError(f"{spec.name} v{spec.version}: refusing {path}: SHA-256 {digest} does not match "
                             f"the manifest's {spec.sha256}")
    return data


def build_repository(specs: list[ModelSpec], repository: Path) -> dict[str, Path]:
    """Copy each verified artifact into the repository layout; returns model name -> model file."""
    paths = {}
    for spec in specs:
        data = read_verified(spec.source, spec)
        target = model_path(repository, spec)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{MODEL_FILE}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)  # atomic: a concurrent reader sees the old file or the new one
        paths[spec.name] = target
    return paths


def clean_repository(repository: Path) -> None:
    shutil.rmtree(repository, ignore_errors=True)
