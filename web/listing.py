"""index.json: what the site offers, per lane, with sizes, hashes, accuracy and parity from the manifest."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from web.catalog import Artifact, Catalogue
from exporters.manifest import file_sha256
from web.stage import model_dir

INDEX_SCHEMA_VERSION = 1
PARITY_KEYS = ("max_abs_diff", "argmax_agreement", "accuracy", "source_accuracy", "images", "gate", "passed")


def artifact_record(a: Artifact) -> dict[str, Any]:
    e, base = a.entry, model_dir(a)
    record = {
        "lane": a.lane, "format": a.format, "url": f"{base}/{a.main}",
        "bytes": e["bytes"], "sha256": e["sha256"],
        # a multi-file artifact's manifest sha256 is over its sorted "path sha256" lines (exporters/manifest.py)
        "sha256_of": "tree" if "files" in e else "file",
        "files": [{"url": f"{base}/{f.name}", "bytes": f.bytes, "sha256": f.sha256}  # the file to open first
                  for f in sorted(a.files, key=lambda f: f.name != a.main)],
        "accuracy": e["parity"]["accuracy"],
        "parity": {k: e["parity"][k] for k in PARITY_KEYS if k in e["parity"]},
        "converter": e.get("converter", {}).get("path"),
        "validated_in": e.get("runtime"),
        "signature": e["signature"],
    }
    if a.quantization:
        record["quantization"] = a.quantization
    return record


def build_index(catalogue: Catalogue, site: Path, archives: dict[str, Path],
                runtimes: dict[str, dict[str, str]]) -> dict[str, Any]:
    m = catalogue.manifest
    lanes = []
    for lane in catalogue.lanes:
        archive = archives[lane]
        lanes.append({
            "lane": lane,
            "model_name": f"mnist-{lane}",
            "artifacts": [artifact_record(a) for a in catalogue.of_lane(lane)],
            "archive": {"url": archive.relative_to(site).as_posix(), "bytes": archive.stat().st_size,
                        "sha256": file_sha256(archive)},
        })
    return {
        "schema_version": INDEX_SCHEMA_VERSION,
        "manifest": {"schema_version": m["schema_version"], "created": m.get("created"),
                     "tool_versions": m.get("tool_versions", {})},
        "browser_runtimes": runtimes,
        "lanes": lanes,
        "unavailable": list(catalogue.unavailable),
        "demo": "demo/",
    }
