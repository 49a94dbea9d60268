"""An artifact's inputs and outputs as its users see them: the spec's names, shapes and layout, joined with the
dtype and int8 quantization its runtime reports (the manifest entry's `signature`)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rosetta.core.spec import TensorSpec
from rosetta.web.catalog import Artifact, Model, SiteError

# Runtimes decorate tensor names: TFLite "serving_default_x:0", TF.js "x:0".
_DECORATION = re.compile(r"^serving_default_|:\d+$")
_DTYPE_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "int": "int32"}  # TF's DT_ names


@dataclass(frozen=True)
class Tensor:
    spec: TensorSpec
    dtype: str  # numpy name of what the artifact takes or returns (int8 for a full-integer TFLite model)
    quantization: dict[str, float | int] | None  # {"scale", "zero_point"} when dtype is an integer encoding

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def example_shape(self) -> list[int]:
        """The shape of one example: batch 1, and 1 for any other free dimension (snippets say to set it)."""
        return [1, *(d if d > 0 else 1 for d in self.spec.shape[1:])]

    @property
    def size(self) -> int:
        n = 1
        for d in self.example_shape:
            n *= d
        return n


@dataclass(frozen=True)
class Io:
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]


def io(model: Model, artifact: Artifact) -> Io:
    sig = artifact.entry.signature
    where = f"{model.name}/{artifact.format}"
    return Io(_join(model.spec.inputs, sig["inputs"], f"{where} inputs"),
              _join(model.spec.outputs, sig["outputs"], f"{where} outputs"))


def _join(specs: tuple[TensorSpec, ...], reported: list[Any], where: str) -> tuple[Tensor, ...]:
    """Match the runtime's tensors to the spec's by name, else (same count, names the runtime invented such as
    TFLite's "StatefulPartitionedCall:0") by position."""
    if not all(isinstance(r, dict) and isinstance(r.get("name"), str) for r in reported):
        raise SiteError(f"{where}: signature entries need a name")
    by_name = {_DECORATION.sub("", r["name"]): r for r in reported}
    if all(s.name in by_name for s in specs):
        matched = [by_name[s.name] for s in specs]
    elif len(reported) == len(specs):
        matched = list(reported)
    else:
        raise SiteError(f"{where}: the runtime reports {[r['name'] for r in reported]}, the spec has "
                        f"{[s.name for s in specs]}")
    out = []
    for s, r in zip(specs, matched):
        q = r.get("quantization")
        if q is not None and not (isinstance(q, dict) and isinstance(q.get("scale"), (int, float))
                                  and isinstance(q.get("zero_point"), int)):
            raise SiteError(f"{where}: {s.name}: quantization needs a numeric scale and an integer zero_point")
        dtype = str(r.get("dtype") or s.dtype.name)
        out.append(Tensor(s, _DTYPE_ALIASES.get(dtype, dtype), q))
    return tuple(out)
