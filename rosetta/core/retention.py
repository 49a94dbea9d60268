"""Which published versions a model keeps: its labelled versions (stable, canary) and its newest `keep`. The
others' manifest entries and files are removed, and so are staging dirs left by killed exports. Applied after
every publish (rosetta.api) and by `rosetta prune`.

A labelled version is never removed, whatever `keep` is: the servers serve it by label. The entries go first
(under the manifest lock), then the files: a reader of the manifest never meets an entry without its files.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rosetta.core import manifest
from rosetta.core.manifest import Manifest, Release
from rosetta.core.version_dirs import STAGING_SUFFIX, published_versions, remove_stale_staging, version_dir

KEEP_NEWEST = 3  # the default: with stable and canary, at most 5 versions of a model stay on disk
_PRUNED_SUFFIX = ".pruned"  # DIR/<model>/.<N>.pruned: a version being deleted


@dataclass
class Pruned:
    versions: dict[str, list[int]] = field(default_factory=dict)  # model -> removed versions
    staging: list[Path] = field(default_factory=list)  # removed staging dirs of killed exports

    def __bool__(self) -> bool:
        return bool(self.staging) or any(self.versions.values())


def kept(versions: Iterable[int], release: Release, keep: int) -> set[int]:
    """The versions retention keeps: the labelled ones and the newest `keep`."""
    newest = sorted(set(versions), reverse=True)[:keep]
    return set(newest) | set(release.labels.values())


def _models_on_disk(artifacts_dir: Path) -> set[str]:
    """Model dirs with a staging or half-deleted dir in them (a killed first export has no manifest entry)."""
    if not artifacts_dir.is_dir():
        return set()
    return {p.name for p in artifacts_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
            and any(c.name.startswith(".") and c.name.endswith((STAGING_SUFFIX, _PRUNED_SUFFIX))
                    for c in p.iterdir())}


def prune(artifacts_dir: Path, models: Iterable[str] | None = None, keep: int = KEEP_NEWEST) -> Pruned:
    """Apply the retention policy to `models` (default: every model in the manifest, and every model dir with a
    stale staging dir); returns what was removed."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    artifacts_dir = Path(artifacts_dir)
    chosen = set(models) if models is not None else None

    def select(current: Manifest) -> dict[str, list[int]]:
        names = chosen if chosen is not None else set(current.model_names())
        drop = {}
        for name in names:
            versions = set(current.versions(name)) | set(published_versions(artifacts_dir, name))
            drop[name] = sorted(versions - kept(versions, current.release(name), keep))
        return drop

    result = Pruned(manifest.remove_versions(artifacts_dir, select))
    names = chosen if chosen is not None else set(manifest.load(artifacts_dir).model_names())
    for name in sorted(names | (_models_on_disk(artifacts_dir) if chosen is None else set())):
        for v in result.versions.get(name, []):
            path = version_dir(artifacts_dir, name, v)
            if path.is_dir():  # out of sight first: no reader sees a half-deleted version under its number
                path.rename(path.with_name(f".{v}{_PRUNED_SUFFIX}"))
        model_dir = artifacts_dir / name
        if model_dir.is_dir():
            for half in model_dir.glob(f".*{_PRUNED_SUFFIX}"):
                shutil.rmtree(half, ignore_errors=True)
        result.staging += remove_stale_staging(artifacts_dir, name)
    return result

