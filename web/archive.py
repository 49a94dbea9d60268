"""One zip per lane with its mobile and browser artifacts, a README and the manifest excerpt, to fetch at once.

Entries are sorted and carry a fixed timestamp, so the same artifacts give a byte-identical archive.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from web.catalog import Artifact, Catalogue
from web.snippets import for_lane
from exporters.manifest import file_sha256
from web.stage import model_dir

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip date: no build time leaks into the bytes


def archive_name(lane: str) -> str:
    return f"mnist-{lane}-mobile-web.zip"


def archive_path(artifact: Artifact) -> str:
    """Where an artifact's main file sits inside the archive's top folder."""
    return f"{artifact.format}/{artifact.main}"


def manifest_excerpt(catalogue: Catalogue, lane: str) -> dict[str, Any]:
    m = catalogue.manifest
    return {"schema_version": m["schema_version"], "created": m.get("created"),
            "tool_versions": m.get("tool_versions", {}),
            "note": "entries as in the full manifest (paths relative to its artifacts dir); in this archive each "
                    "artifact's files are under <format>/",
            "artifacts": [a.entry for a in catalogue.of_lane(lane)]}


def readme(catalogue: Catalogue, lane: str) -> str:
    lines = [f"# mnist-{lane}: mobile and browser artifacts", "",
             f"The Rosetta MNIST MLP trained in the {lane} lane: `images` float32 [batch, 28, 28] in [0, 1] "
             "(white digit on black) -> `probabilities` float32 [batch, 10].", "",
             "| format | file | bytes | sha256 | test accuracy |", "| --- | --- | --- | --- | --- |"]
    for a in catalogue.of_lane(lane):
        for f in a.files:
            lines.append(f"| {a.format} | {a.format}/{f.name} | {f.bytes} | `{f.sha256}` | "
                         f"{a.entry['parity']['accuracy']:.4f} |")
    lines += ["", "`SHA256SUMS` checks the files (`sha256sum -c SHA256SUMS` in this folder); `manifest.json` is "
              "this lane's excerpt of the export manifest (converter path, parity against the source model, "
              "signature as each runtime reports it).", ""]
    for snippet in for_lane(catalogue, lane, archive_path):
        lines += [f"## {snippet.runtime}", "", f"```{snippet.language}", snippet.code, "```", ""]
    return "\n".join(lines)


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def write_archive(catalogue: Catalogue, lane: str, site: Path) -> Path:
    """downloads/mnist-<lane>-mobile-web.zip from the staged (already verified) copies in site/models/."""
    top = Path(archive_name(lane)).stem
    out = site / "downloads" / archive_name(lane)
    out.parent.mkdir(parents=True, exist_ok=True)
    members: dict[str, bytes] = {}
    sums = []
    for a in catalogue.of_lane(lane):
        for f in a.files:
            staged = site / model_dir(a) / f.name
            members[f"{a.format}/{f.name}"] = staged.read_bytes()
            sums.append(f"{file_sha256(staged)}  {a.format}/{f.name}")
    members["README.md"] = readme(catalogue, lane).encode()
    members["manifest.json"] = (json.dumps(manifest_excerpt(catalogue, lane), indent=2) + "\n").encode()
    members["SHA256SUMS"] = ("\n".join(sums) + "\n").encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name in sorted(members):
            _add(zf, f"{top}/{name}", members[name])
    return out
