"""Small ONNX models exported with torch.onnx (dynamo) plus manifest v2 entries written by hand, so the server
is tested against any model the spec can describe, independent of the training pipeline.

- CLASSIFIER: one FP32 input, one probabilities output (the common case).
- MULTI_IO: an FP32 input with a free non-batch dimension and an INT64 input; an FP32 and an INT64 output.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from benchmarks.serving.clients import example_inputs
from rosetta.core.digest import file_sha256
from rosetta.core.spec import ModelSpec, TensorSpec

CLASSIFIER = ModelSpec("tiny-classifier",
                       (TensorSpec("pixels", "FP32", (-1, 3, 4), layout="NHW"),),
                       (TensorSpec("scores", "FP32", (-1, 5), kind="probabilities"),))
MULTI_IO = ModelSpec("tiny-multi-io",
                     (TensorSpec("sequence", "FP32", (-1, -1, 4)), TensorSpec("token_ids", "INT64", (-1, 3))),
                     (TensorSpec("pooled", "FP32", (-1, 4)), TensorSpec("doubled_ids", "INT64", (-1, 3))))
SPECS = (CLASSIFIER, MULTI_IO)


class _Classifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.dense = torch.nn.Linear(12, 5)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.dense(pixels.flatten(1)), dim=-1)


class _MultiIO(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.proj = torch.nn.Linear(4, 4)
        self.ids = torch.nn.Linear(3, 4)

    def forward(self, sequence: torch.Tensor, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.proj(sequence).mean(dim=1) + self.ids(token_ids.to(torch.float32))
        return pooled, token_ids * 2


def _export(module: torch.nn.Module, spec: ModelSpec, path: Path) -> None:
    example = example_inputs(spec, rows=3)
    args = tuple(torch.from_numpy(example[t.name]) for t in spec.inputs)
    dynamic = {t.name: {i: torch.export.Dim(f"{t.name}_{i}", min=1, max=4096)
                        for i, d in enumerate(t.shape) if d == -1} for t in spec.inputs}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module.eval(), args, str(path), dynamo=True, dynamic_shapes=dynamic,
                      input_names=spec.input_names, output_names=spec.output_names, external_data=False,
                      verbose=False)


def _entry(spec: ModelSpec, artifacts: Path, relpath: str) -> dict:
    """A manifest `onnx` entry as the exporter writes it (the fields the server reads, and a few more)."""
    path = artifacts / relpath
    signature = {side: [{"name": t.name, "shape": list(t.static_shape), "dtype": t.dtype.name} for t in tensors]
                 for side, tensors in (("inputs", spec.inputs), ("outputs", spec.outputs))}
    return {"model_name": spec.name, "lane": "torch", "format": "onnx", "version": 1, "spec": spec.to_json(),
            "status": "ok", "path": relpath, "bytes": path.stat().st_size, "sha256": file_sha256(path),
            "signature": signature, "runtime": {"name": "onnxruntime"}}


def write_manifest(artifacts: Path, entries: list[dict]) -> Path:
    path = artifacts / "manifest.json"
    path.write_text(json.dumps({"schema_version": 3, "created": "test", "tool_versions": {}, "artifacts": entries}))
    return path


def build_artifacts(artifacts: Path) -> Path:
    """Both models under `artifacts/<model>/onnx/model.onnx`, plus a failed entry that must not be served."""
    entries = []
    for module, spec in ((_Classifier(), CLASSIFIER), (_MultiIO(), MULTI_IO)):
        relpath = f"{spec.name}/onnx/model.onnx"
        _export(module, spec, artifacts / relpath)
        entries.append(_entry(spec, artifacts, relpath))
    entries.append({"model_name": "tiny-broken", "lane": "torch", "format": "onnx", "version": 1, "status": "failed",
                    "error": "converter crashed", "spec": CLASSIFIER.renamed("tiny-broken").to_json()})
    write_manifest(artifacts, entries)
    return artifacts
