"""Content hashes of artifacts: what the manifest records and every reader verifies."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_digest(paths: Iterable[Path]) -> str:
    """One sha256 over several files' names and contents, in the order given (a key's code or data part)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return digest.hexdigest()


def describe_files(path: Path) -> dict[str, Any]:
    """bytes + sha256 of a file, or of a directory: sha256 over its sorted 'relpath sha256' lines."""
    if path.is_file():
        return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
    files = sorted(p for p in path.rglob("*") if p.is_file())
    listing = [{"path": str(p.relative_to(path)), "bytes": p.stat().st_size, "sha256": file_sha256(p)}
               for p in files]
    return {"bytes": sum(f["bytes"] for f in listing), "sha256": tree_sha256(listing), "files": listing}


def tree_sha256(listing: list[dict[str, Any]]) -> str:
    """A directory's hash from its files' (path, sha256) listing, sorted by path as describe_files lists them."""
    return hashlib.sha256("".join(f"{f['path']} {f['sha256']}\n" for f in listing).encode()).hexdigest()
