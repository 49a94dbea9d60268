"""The ONNX entries of the export manifest, as the server needs them."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# numpy dtype names in the manifest -> KServe v2 datatypes
V2_DATATYPES = {"float32": "FP32", "float64": "FP64", "int64": "INT64", "int32": "INT32", "uint8": "UINT8"}


class ManifestError(Exception):
    """The manifest is missing, unreadable or lacks what serving needs."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | None, ...]  # None: any size (the batch dimension)
    dtype: str  # numpy dtype name

    @property
    def v2_datatype(self) -> str:
        return V2_DATATYPES[self.dtype]

    @property
    def v2_shape(self) -> list[int]:
        return [-1 if d is None else d for d in self.shape]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: int
    lane: str
    source: Path  # the artifact file the manifest points at
    sha256: str
    input: TensorSpec
    output: TensorSpec


def _tensor(raw: dict, where: str) -> TensorSpec:
    try:
        spec = TensorSpec(raw["name"], tuple(raw["shape"]), raw["dtype"])
    except (KeyError, TypeError) as exc:
        raise ManifestError(f"{where}: tensor needs name, shape and dtype ({exc!r})") from None
    if spec.dtype not in V2_DATATYPES:
        raise ManifestError(f"{where}: unsupported dtype {spec.dtype!r}")
    return spec


def _entry(raw: dict, artifacts: Path, index: int) -> ModelSpec:
    where = f"{artifacts / MANIFEST}: artifacts[{index}]"
    try:
        sig = raw["signature"]
        if len(sig["inputs"]) != 1 or len(sig["outputs"]) != 1:
            raise ManifestError(f"{where}: expected one input and one output, got "
                                f"{len(sig['inputs'])} and {len(sig['outputs'])}")
        return ModelSpec(name=raw["model_name"], version=int(raw["version"]), lane=raw["lane"],
                         source=artifacts / raw["path"], sha256=raw["sha256"].lower(),
                         input=_tensor(sig["inputs"][0], where), output=_tensor(sig["outputs"][0], where))
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"{where}: missing or malformed field ({exc!r})") from None


def load_onnx_specs(artifacts: Path) -> list[ModelSpec]:
    """Every `onnx` artifact with status ok; failed exports are skipped with a warning, never served."""
    path = Path(artifacts) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: missing; run `rosetta export` first or pass --artifacts DIR") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable ({exc})") from None
    specs = []
    for i, raw in enumerate(manifest.get("artifacts", [])):
        if raw.get("format") != "onnx":
            continue
        if raw.get("status") != "ok":
            log.warning("not serving %s: its export status is %r", raw.get("model_name"), raw.get("status"))
            continue
        specs.append(_entry(raw, Path(artifacts), i))
    if not specs:
        raise ManifestError(f"{path}: no onnx artifact with status ok")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ManifestError(f"{path}: duplicate onnx model names {sorted(names)}")
    return specs
