"""One zip per model with its mobile and browser artifacts, a README and the manifest excerpt, to fetch at once.

Entries are sorted and carry a fixed timestamp, so the same artifacts give a byte-identical archive.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from rosetta.core import manifest
from rosetta.core.digest import file_sha256
from rosetta.web.catalog import Artifact, Catalogue, Model
from rosetta.web.snippets import for_model
from rosetta.web.stage import model_dir
from rosetta.web.tensors import Tensor, io

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip date: no build time leaks into the bytes


def archive_name(model_name: str) -> str:
    return f"{model_name}-mobile-web.zip"


def archive_path(artifact: Artifact) -> str:
    """Where an artifact's main file sits inside the archive's top folder."""
    return f"{artifact.format}/{artifact.main}"


def manifest_excerpt(catalogue: Catalogue, model: Model) -> dict[str, Any]:
    m = catalogue.manifest
    return {"schema_version": manifest.SCHEMA_VERSION, "created": m.created, "tool_versions": m.tool_versions,
            "note": "entries as in the full manifest (paths relative to its artifacts dir); in this archive each "
                    "artifact's files are under <format>/",
            "artifacts": [a.entry.to_json() for a in model.artifacts]}


def _tensor_line(t: Tensor) -> str:
    q = f", int8 scale {t.quantization['scale']!r} zero_point {t.quantization['zero_point']}" if t.quantization else ""
    layout = f" {t.spec.layout}" if t.spec.layout else ""
    kind = f" ({t.spec.kind})" if t.spec.kind else ""
    return f"- `{t.name}`: {t.dtype} {list(t.spec.shape)}{layout}{kind}{q}"


def readme(model: Model) -> str:
    lines = [f"# {model.name}: mobile and browser artifacts", ""]
    if model.spec.description:
        lines += [model.spec.description, ""]
    lines += ["| format | file | bytes | sha256 | accuracy |", "| --- | --- | --- | --- | --- |"]
    for a in model.artifacts:
        acc = a.entry.parity.accuracy
        for f in a.files:
            lines.append(f"| {a.format} | {a.format}/{f.name} | {f.bytes} | `{f.sha256}` | "
                         f"{'-' if acc is None else f'{acc:.4f}'} |")
    lines += ["", "`SHA256SUMS` checks the files (`sha256sum -c SHA256SUMS` in this folder); `manifest.json` is "
              "this model's excerpt of the export manifest (converter path, parity against the source model, "
              "spec, signature as each runtime reports it).", "", "## Tensors (shape -1: any size)", ""]
    for a in model.artifacts:
        tensors = io(model, a)
        lines += [f"{a.format} inputs:", *map(_tensor_line, tensors.inputs),
                  f"{a.format} outputs:", *map(_tensor_line, tensors.outputs), ""]
    for snippet in for_model(model, archive_path):
        lines += [f"## {snippet.runtime}", "", f"```{snippet.language}", snippet.code, "```", ""]
    return "\n".join(lines)


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def write_archive(catalogue: Catalogue, model: Model, site: Path) -> Path:
    """downloads/<model>-mobile-web.zip from the staged (already verified) copies in site/models/."""
    top = Path(archive_name(model.name)).stem
    out = site / "downloads" / archive_name(model.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    members: dict[str, bytes] = {}
    sums = []
    for a in model.artifacts:
        for f in a.files:
            staged = site / model_dir(a) / f.name
            members[f"{a.format}/{f.name}"] = staged.read_bytes()
            sums.append(f"{file_sha256(staged)}  {a.format}/{f.name}")
    members["README.md"] = readme(model).encode()
    members[manifest.FILENAME] = (json.dumps(manifest_excerpt(catalogue, model), indent=2) + "\n").encode()
    members["SHA256SUMS"] = ("\n".join(sums) + "\n").encode()
    with zipfile.ZipFile(out, "w") as zf:
        for name in sorted(members):
            _add(zf, f"{top}/{name}", members[name])
    return out
