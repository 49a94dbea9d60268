"""When an export would repeat the last one: the key of an export is its source's bytes, the formats asked for,
the versions of every converter and runtime on their paths, the exporters' own code and the example rows. A
published version records its key (DIR/<model>/<N>/export_key.json); an export whose key equals the newest
version's publishes nothing and reuses that version's manifest entries.

Computed from files and installed versions only: deciding that nothing needs doing must not load the model.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rosetta.core import manifest
from rosetta.core.digest import files_digest
from rosetta.core.manifest import Entry
from rosetta.core.tool_versions import version
from rosetta.core.version_dirs import published_versions, version_dir
from rosetta.exporters.graph import plan
from rosetta.exporters.runtimes import RUNTIMES

EXPORT_KEY = "export_key.json"
_EXPORTERS = Path(__file__).resolve().parent
_ROSETTA = Path(manifest.__file__).resolve().parent.parent
# What turns a source into validated artifacts besides the converters' packages: this package, the source
# adapters, the spec, the example handling.
_CODE = (*sorted(_EXPORTERS.glob("*.py")), _ROSETTA / "sources.py", _ROSETTA / "jax_function.py",
         _ROSETTA / "core" / "spec.py", _ROSETTA / "core" / "examples.py")


def export_key(source_files: Sequence[Path], lane: str, formats: Sequence[str], examples: str,
               extra_code: Sequence[Path] = ()) -> dict[str, Any]:
    """The key of exporting the source in `source_files` (its bytes) from `lane` to `formats`, validated on the
    example rows `examples` names (a digest of them, or of what they are drawn from)."""
    routes = plan(lane)
    tools = {t for f in formats for e in routes[f] for t in e.tools} | {RUNTIMES[f].distribution for f in formats}
    return {"source": files_digest(source_files), "lane": lane, "formats": sorted(formats),
            "tools": {t: version(t) for t in sorted(tools)}, "code": files_digest([*_CODE, *extra_code]),
            "examples": examples}


def reusable(artifacts_dir: Path, model_name: str, key: dict[str, Any]) -> list[Entry] | None:
    """The entries of the model's newest version if it was exported under `key` and the manifest lists all its
    formats (None: export)."""
    versions = published_versions(artifacts_dir, model_name)
    if not versions:
        return None
    newest = versions[-1]
    try:
        recorded = json.loads((version_dir(artifacts_dir, model_name, newest) / EXPORT_KEY).read_text())
    except (OSError, ValueError):
        return None
    if recorded != key:
        return None
    entries = [e for e in manifest.load(artifacts_dir).entries if e.model_name == model_name and e.version == newest]
    if {e.format for e in entries} != set(key["formats"]):
        return None
    return sorted(entries, key=lambda e: key["formats"].index(e.format))
