"""Where a model's published versions live, `DIR/<model_name>/<N>/`, and how a version is published atomically.

A version directory is never overwritten: an export is built and validated in a hidden staging directory beside
it and renamed into place at the end, so an interrupted or wholly failed export leaves nothing that blocks a retry.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rosetta.core.file_lock import locked

STAGING_SUFFIX = ".staging"  # DIR/<model>/.<N>.<random>.staging/: a version being built
STAGING_LOCK = ".lock"  # inside a staging dir, held by the export writing it
STALE_UNLOCKED_SECONDS = 3600


class VersionError(Exception):
    """A version that cannot be published (it exists, or is not a positive integer)."""


def version_dir(artifacts_dir: Path, model_name: str, version: int) -> Path:
    return Path(artifacts_dir) / model_name / str(int(version))


def published_versions(artifacts_dir: Path, model_name: str) -> list[int]:
    """Version numbers that have a directory under DIR/<model_name>/ (staging dirs are hidden, not counted)."""
    model_dir = Path(artifacts_dir) / model_name
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit() and p.name[0] != "0")


def next_version(artifacts_dir: Path, model_name: str, recorded: Iterable[int] = ()) -> int:
    """One above every version on disk or recorded ok in the manifest: a number is never handed out twice, so a
    server that saw version N never sees different bytes under N."""
    return max([0, *published_versions(artifacts_dir, model_name), *recorded]) + 1


def check_free(artifacts_dir: Path, model_name: str, version: int) -> None:
    """Refuse a version that is not a positive integer or whose directory exists."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise VersionError(f"version must be a positive integer, got {version!r}")
    target = version_dir(artifacts_dir, model_name, version)
    if target.exists():
        raise VersionError(f"{target} exists: version {version} of {model_name} is published and versions are "
                           f"never overwritten; omit --version for the next free one, or pick another number")


@dataclass
class StagedVersion:
    """A version being built: `dir` becomes DIR/<model>/<N>/ on publish(); `work` holds intermediates."""
    final: Path
    dir: Path
    work: Path
    published: bool = False

    def publish(self, final: Path | None = None) -> Path:
        """Rename the staged version to `final` (default: the version it was staged for)."""
        final = Path(final or self.final)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(self.dir, final)  # fails on an existing non-empty dir: never overwrites a version
        except OSError as exc:
            raise VersionError(f"{final}: published by someone else meanwhile ({exc.strerror})") from None
        self.final, self.published = final, True
        return final


@contextmanager
def staged_version(artifacts_dir: Path, model_name: str, version: int) -> Iterator[StagedVersion]:
    """A staging area for DIR/<model_name>/<version>/ on the same filesystem (so publishing is one rename);
    whatever was not published is removed on exit, error or not. The export holds the staging dir's lock file
    while it writes: `remove_stale_staging` removes only staging dirs whose writer is gone (a killed export)."""
    check_free(artifacts_dir, model_name, version)
    model_dir = Path(artifacts_dir) / model_name
    model_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{version}.", suffix=STAGING_SUFFIX, dir=model_dir))
    try:
        with locked(scratch / STAGING_LOCK):
            staged = StagedVersion(version_dir(artifacts_dir, model_name, version), scratch / "version",
                                   scratch / "work")
            staged.dir.mkdir()
            yield staged
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def staging_dirs(artifacts_dir: Path, model_name: str) -> list[Path]:
    model_dir = Path(artifacts_dir) / model_name
    if not model_dir.is_dir():
        return []
    return sorted(p for p in model_dir.iterdir() if p.is_dir() and p.name.startswith(".")
                  and p.name.endswith(STAGING_SUFFIX))


def remove_stale_staging(artifacts_dir: Path, model_name: str) -> list[Path]:
    """Remove the staging dirs of DIR/<model_name>/ that no live export is writing (their lock is free: the
    process that held it was killed); returns them. A dir without its lock file yet (an export between creating
    it and locking it) is left alone unless it is older than STALE_UNLOCKED_SECONDS."""
    removed = []
    for scratch in staging_dirs(artifacts_dir, model_name):
        lock = scratch / STAGING_LOCK
        if not lock.exists():
            try:
                if time.time() - scratch.stat().st_mtime > STALE_UNLOCKED_SECONDS:
                    shutil.rmtree(scratch, ignore_errors=True)
                    removed.append(scratch)
            except FileNotFoundError:
                pass
            continue
        try:
            with locked(lock, wait=False, create=False) as held:
                if held:  # removed while held: a new export never reuses a name (mkdtemp), so none races this
                    shutil.rmtree(scratch, ignore_errors=True)
                    removed.append(scratch)
        except FileNotFoundError:  # its export finished and removed it meanwhile
            continue
    return removed
