"""Copy each artifact's files into the site, verifying every byte against the manifest's sha256.

The copies are what the page links, the archives pack and the demo loads, so checking them (not the
originals, which an export may be rewriting) is checking what ships.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from rosetta.core.digest import file_sha256
from rosetta.web.catalog import Artifact, SiteError


def model_dir(artifact: Artifact) -> str:
    """Where an artifact's files live in the site, relative to its root."""
    return f"models/{artifact.model_name}/{artifact.format}"


def stage(artifact: Artifact, site: Path) -> None:
    dest_dir = site / model_dir(artifact)
    for f in artifact.files:
        if not f.source.is_file():
            raise SiteError(f"{f.source}: missing, but the manifest lists it for "
                            f"{artifact.model_name}/{artifact.format}")
        dest = dest_dir / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f.source, dest)
        digest, size = file_sha256(dest), dest.stat().st_size
        if (digest, size) != (f.sha256, f.bytes):
            raise SiteError(f"{f.source}: sha256 {digest} ({size} bytes) but the manifest says {f.sha256} "
                            f"({f.bytes} bytes); re-run the export for {artifact.model_name}/{artifact.format}")
