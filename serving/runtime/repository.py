"""The versioned model repository, <repo>/<model>/<version>/model.onnx, built from the manifest.

Every file is checked against the manifest's SHA-256 when copied in and again when read for loading
(the server loads the very bytes it hashed), so a swapped or corrupted file is never served.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from rosetta.core.atomic import atomic_file
from rosetta.core.manifest import ServedVersion

MODEL_FILE = "model.onnx"


class IntegrityError(Exception):
    """A model file is missing, its SHA-256 differs from the manifest's, or it does not match its spec."""


def model_path(repository: Path, model: ServedVersion) -> Path:
    return Path(repository) / model.name / str(model.version) / MODEL_FILE


def read_verified(path: Path, model: ServedVersion) -> bytes:
    """The file's bytes, only if their SHA-256 is the one the manifest recorded for `model`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IntegrityError(f"{model.name} v{model.version}: cannot read {path} ({exc.strerror})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != model.sha256:
        raise IntegrityError(f"{model.name} v{model.version}: refusing {path}: SHA-256 {digest} does not match "
                             f"the manifest's {model.sha256}")
    return data


def stage_version(model: ServedVersion, repository: Path) -> Path:
    """Copy one verified artifact into the repository layout; returns the model file."""
    target = model_path(repository, model)
    data = read_verified(model.source, model)
    with atomic_file(target) as tmp:  # a concurrent reader sees the old file or the new one
        tmp.write_bytes(data)
    return target


def build_repository(models: list[ServedVersion], repository: Path) -> dict[tuple[str, int], Path]:
    """Every verified artifact in the repository layout; returns (model name, version) -> model file."""
    return {model.key: stage_version(model, repository) for model in models}


def remove_version(repository: Path, name: str, version: int) -> None:
    """A retired version's directory; the model directory goes with its last version."""
    shutil.rmtree(Path(repository) / name / str(version), ignore_errors=True)
    try:
        (Path(repository) / name).rmdir()
    except OSError:  # other versions still there (or already gone)
        pass


def clean_repository(repository: Path) -> None:
    shutil.rmtree(repository, ignore_errors=True)
