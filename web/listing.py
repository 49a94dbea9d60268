"""index.json: what the site offers, per model, with sizes, hashes, accuracy, parity and tensors from the manifest."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rosetta.core import manifest
from rosetta.core.digest import file_sha256
from rosetta.core.manifest import Entry
from rosetta.web.catalog import Artifact, Catalogue, Model
from rosetta.web.drawable import drawing_demo
from rosetta.web.stage import model_dir
from rosetta.web.tensors import Tensor, io

INDEX_SCHEMA_VERSION = 2
PARITY_KEYS = ("examples", "max_abs_diff", "argmax_agreement", "accuracy", "source_accuracy", "gate", "passed",
               "outputs")


def tensor_record(t: Tensor) -> dict[str, Any]:
    record = {**t.spec.to_json(), "dtype": t.dtype}
    if t.quantization:
        record["quantization"] = t.quantization
    return record


def quantization_record(e: Entry) -> dict[str, Any] | None:
    """What the quantizing converter of this cell recorded (its notes in the manifest entry), if it is a record."""
    q = e.converter.get("notes", {}).get(e.format, {}).get("quantization")
    return q if isinstance(q, dict) else None


def artifact_record(model: Model, a: Artifact) -> dict[str, Any]:
    e, base, tensors = a.entry, model_dir(a), io(model, a)
    return {
        "model_name": a.model_name, "format": a.format, "version": e.version, "url": f"{base}/{a.main}",
        "bytes": e.bytes, "sha256": e.sha256,
        # a multi-file artifact's manifest sha256 is over its sorted "path sha256" lines (rosetta.core.digest)
        "sha256_of": "tree" if e.files is not None else "file",
        "files": [{"url": f"{base}/{f.name}", "bytes": f.bytes, "sha256": f.sha256}  # the file to open first
                  for f in sorted(a.files, key=lambda f: (f.name != a.main, f.name))],
        "accuracy": e.parity.accuracy,
        "parity": {k: getattr(e.parity, k) for k in PARITY_KEYS},
        "converter": e.converter.get("path"),
        "validated_in": e.runtime or None,
        "inputs": [tensor_record(t) for t in tensors.inputs],
        "outputs": [tensor_record(t) for t in tensors.outputs],
        "signature": e.signature,
        "shapes": e.shapes,  # free axes past the batch: the sizes validated, or the static shape the format got
        # quantized TFLite: how (mode, per-channel weights, calibration rows) and which layers stayed float
        "quantization": quantization_record(e),
    }


def build_index(catalogue: Catalogue, site: Path, archives: dict[str, Path],
                runtimes: dict[str, dict[str, Any]], examples: dict[str, str]) -> dict[str, Any]:
    """examples: model name -> URL of its demo examples (only models that have some)."""
    m = catalogue.manifest
    models = []
    for model in catalogue.models:
        archive = archives[model.name]
        plan = drawing_demo(model.spec)
        if isinstance(plan, str):
            demo: dict[str, Any] = {"available": False, "reason": plan}
        elif not (model.get("tfjs") and model.get("onnx")):
            demo = {"available": False, "reason": "it runs tfjs and onnx side by side; this model lacks one"}
        else:
            demo = {"available": True, **plan}
            if model.name in examples:
                demo["examples"] = examples[model.name]
        models.append({
            "model_name": model.name,
            "lane": model.lane,
            "spec": model.spec.to_json(),
            "artifacts": [artifact_record(model, a) for a in model.artifacts],
            "archive": {"url": archive.relative_to(site).as_posix(), "bytes": archive.stat().st_size,
                        "sha256": file_sha256(archive)},
            "demo": demo,
        })
    return {
        "schema_version": INDEX_SCHEMA_VERSION,
        "manifest": {"schema_version": manifest.SCHEMA_VERSION, "created": m.created,
                     "tool_versions": m.tool_versions},
        "browser_runtimes": runtimes,
        "models": models,
        "unavailable": list(catalogue.unavailable),
        "demo": "demo/index.html",
    }
