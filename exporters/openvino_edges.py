"""ONNX -> OpenVINO IR (model.xml + model.bin), float32 weights, converted by openvino.convert_model.

From the validated ONNX rather than the SavedModel: every lane reaches ONNX, and OpenVINO's ONNX frontend reads
the graph as ORT runs it (measured against the SavedModel route in the README's export-graph notes).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rosetta.exporters.context import ExportContext


def onnx_to_openvino(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any]:
    import openvino as ov

    model = ov.convert_model(str(src))
    # compress_to_fp16 would store float16 weights: this format is the float32 model, gated as float.
    ov.save_model(model, str(dst), compress_to_fp16=False)
    return {"weights": "float32 (compress_to_fp16=False)"}
