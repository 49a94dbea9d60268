"""Edges into ONNX: from PyTorch (dynamo exporter), from a TF SavedModel (tf2onnx), from JAX (jax2onnx)."""
from __future__ import annotations

from pathlib import Path

import onnx

from exporters.context import ExportContext
from rosetta import contract

OPSET = 18  # what every runtime here (ORT, onnxruntime-web, onnx2tf) reads; the model needs nothing newer


def _check_and_save(model: onnx.ModelProto, dst: Path) -> None:
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(dst))


def torch_to_onnx(src: Path, dst: Path, ctx: ExportContext) -> None:
    import torch

    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        ctx.source_model.eval(), (torch.zeros(2, *contract.IMAGE_SHAPE),), dynamo=True, opset_version=OPSET,
        input_names=[contract.INPUT_NAME], output_names=[contract.OUTPUT_NAME],
        dynamic_shapes={"images": {0: batch}}, verbose=False)
    program.optimize()
    _check_and_save(program.model_proto, dst)


def savedmodel_to_onnx(src: Path, dst: Path, ctx: ExportContext) -> None:
    """tf2onnx on the SavedModel's serving signature (its Python API has no from_saved_model)."""
    import tensorflow as tf
    import tf2onnx

    from exporters.tf_edges import INPUT_TENSOR_SPEC, SIGNATURE

    loaded = tf.saved_model.load(str(src))  # keep a reference: the signature's variables live on it
    signature = loaded.signatures[SIGNATURE]
    # from_function wants a tf.function; wrap the signature instead of re-tracing the Keras model.
    fn = tf.function(lambda images: signature(images=images)[contract.OUTPUT_NAME])
    model, _ = tf2onnx.convert.from_function(fn, input_signature=(INPUT_TENSOR_SPEC,), opset=OPSET)
    _rename_io(model)
    _check_and_save(model, dst)


def _rename_io(model: onnx.ModelProto) -> None:
    """tf2onnx names graph inputs/outputs after TF tensors ('images:0'); use the contract's names."""
    renames = {model.graph.input[0].name: contract.INPUT_NAME, model.graph.output[0].name: contract.OUTPUT_NAME}
    for value in [*model.graph.input, *model.graph.output]:
        value.name = renames.get(value.name, value.name)
    for node in model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]


def jax_to_onnx(src: Path, dst: Path, ctx: ExportContext) -> None:
    from jax2onnx import to_onnx

    from models.jax_mlp import probabilities

    params = ctx.source_model.params
    model = to_onnx(lambda images: probabilities(params, images), [("B", *contract.IMAGE_SHAPE)],
                    opset=OPSET, input_names=[contract.INPUT_NAME], output_names=[contract.OUTPUT_NAME])
    _check_and_save(model, dst)
