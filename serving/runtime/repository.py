"""The versioned model repository, <repo>/<model>/<version>/model.onnx, built from the manifest.

Every file is checked against the manifest's SHA-256 when copied in and again when read for loading
(the server loads the very bytes it hashed), so a swapped or corrupted file is never served.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from rosetta.core.atomic import atomic_file
from rosetta.core.digest import file_sha256, tree_sha256
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


def _listing(model: ServedVersion) -> list[dict]:
    """A multi-file artifact's files (an ONNX model with external data), checked against the entry's hash."""
    files = model.entry.files or []
    if not files or tree_sha256(files) != model.sha256:
        raise IntegrityError(f"{model.name} v{model.version}: the manifest's file list does not match its SHA-256")
    return files


def _copy_verified(src: Path, dst: Path, expected: str, model: ServedVersion) -> None:
    """Stream src to dst (atomically), hashing on the way: a multi-gigabyte weights file never sits in memory."""
    digest = hashlib.sha256()
    try:
        with atomic_file(dst) as tmp, open(src, "rb") as fin, open(tmp, "wb") as fout:
            for block in iter(lambda: fin.read(1 << 22), b""):
                digest.update(block)
                fout.write(block)
            if digest.hexdigest() != expected:
                raise IntegrityError(f"{model.name} v{model.version}: refusing {src}: SHA-256 {digest.hexdigest()} "
                                     f"does not match the manifest's {expected}")
    except OSError as exc:
        raise IntegrityError(f"{model.name} v{model.version}: cannot read {src} ({exc.strerror})") from None


def verify_files(directory: Path, model: ServedVersion) -> None:
    """Every file of a multi-file artifact in `directory` has the SHA-256 its manifest entry lists."""
    for f in _listing(model):
        path = Path(directory) / f["path"]
        try:
            digest = file_sha256(path)
        except OSError as exc:
            raise IntegrityError(f"{model.name} v{model.version}: cannot read {path} ({exc.strerror})") from None
        if digest != f["sha256"]:
            raise IntegrityError(f"{model.name} v{model.version}: refusing {path}: SHA-256 {digest} does not match "
                                 f"the manifest's {f['sha256']}")


def stage_version(model: ServedVersion, repository: Path) -> Path:
    """Copy one verified artifact into the repository layout; returns the model file. An ONNX model with
    external data brings its data file(s), each verified, into the same folder."""
    target = model_path(repository, model)
    if model.entry.files:
        for f in _listing(model):
            _copy_verified(model.source.parent / f["path"], target.parent / f["path"], f["sha256"], model)
        return target
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
