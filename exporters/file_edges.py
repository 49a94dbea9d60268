"""Edges out of model files: an ONNX file is the `onnx` artifact as given (validated again in ONNX Runtime, then
on to onnx2tf like any ONNX model); a SavedModel directory's chosen signature becomes the `savedmodel` artifact's
`serving_default` (then TFLite, TF.js and, through tf2onnx, ONNX like any SavedModel)."""
from __future__ import annotations

import shutil
from pathlib import Path

from rosetta.exporters.context import ExportContext


def onnx_file_to_onnx(src: Path, dst: Path, ctx: ExportContext) -> None:
    """The file itself, byte for byte (with its external data files, when it has any)."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    model = onnx.load(str(src), load_external_data=False)
    tensors = [*model.graph.initializer,
               *(a.t for n in model.graph.node for a in n.attribute if a.HasField("t"))]
    shutil.copyfile(src, dst)
    for tensor in tensors:
        if uses_external_data(tensor):
            location = next(e.value for e in tensor.external_data if e.key == "location")
            target = dst.parent / location
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src.parent / location, target)


def savedmodel_dir_to_savedmodel(src: Path, dst: Path, ctx: ExportContext) -> None:
    """The source's signature re-saved as `serving_default` with the spec's names, plus TF Serving warm-up
    records; the variables it captures are saved with it."""
    import tensorflow as tf

    from rosetta.exporters.tf_edges import _save_serving

    model = ctx.source_model
    module = tf.Module()
    module.source = model.loaded  # tracked: its variables and assets are saved with the new signature
    _save_serving(module, lambda *inputs: model.fn(**dict(zip(model.declared, inputs))), dst, ctx)
