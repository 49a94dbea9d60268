"""SavedModel -> TFLite with float16 weights: half the file; LiteRT's CPU kernels compute in float32 on weights
dequantized at load (a GPU delegate may compute in float16)."""
from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from rosetta.exporters.context import ExportContext
from rosetta.exporters.tf_edges import tflite_converter


def savedmodel_to_tflite_fp16(src: Path, dst: Path, ctx: ExportContext) -> None:
    converter = tflite_converter(src)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    dst.write_bytes(converter.convert())
