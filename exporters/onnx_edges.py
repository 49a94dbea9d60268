"""Edges into ONNX: from PyTorch (dynamo exporter), from a TF SavedModel (tf2onnx), from JAX (jax2onnx).

Graph inputs and outputs carry the spec's names; the batch dimension stays symbolic.
"""
from __future__ import annotations

from pathlib import Path

import onnx

from exporters.context import ExportContext
from exporters.runtimes import SIGNATURE

OPSET = 18  # what every runtime here (ORT, onnxruntime-web, onnx2tf) reads; the models need nothing newer


def _check_and_save(model: onnx.ModelProto, dst: Path) -> None:
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(dst))


def torch_to_onnx(src: Path, dst: Path, ctx: ExportContext) -> None:
    import torch

    from exporters.torch_edges import dynamic_batch, example_args

    spec, model = ctx.spec, ctx.source_model
    if isinstance(model, torch.export.ExportedProgram):  # a user's .pt2: exported already, dims and all
        args, dynamic_shapes = None, None
    else:
        model, args, dynamic_shapes = model.eval(), example_args(ctx), dynamic_batch(spec)
    program = torch.onnx.export(model, args, dynamo=True, opset_version=OPSET, input_names=spec.input_names,
                                output_names=spec.output_names, dynamic_shapes=dynamic_shapes, verbose=False)
    program.optimize()
    _check_and_save(program.model_proto, dst)


def savedmodel_to_onnx(src: Path, dst: Path, ctx: ExportContext) -> None:
    """tf2onnx on the SavedModel's serving signature (its Python API has no from_saved_model)."""
    import tensorflow as tf
    import tf2onnx

    from exporters.tf_edges import input_signature

    spec = ctx.spec
    loaded = tf.saved_model.load(str(src))  # keep a reference: the signature's variables live on it
    signature = loaded.signatures[SIGNATURE]

    # from_function wants a tf.function; wrap the signature instead of re-tracing the source model.
    def call(*inputs):
        outputs = signature(**dict(zip(spec.input_names, inputs)))
        return tuple(outputs[name] for name in spec.output_names)
    model, _ = tf2onnx.convert.from_function(tf.function(call), input_signature=input_signature(spec), opset=OPSET)
    _rename_io(model, spec.input_names, spec.output_names)
    _check_and_save(model, dst)


def _rename_io(model: onnx.ModelProto, inputs: list[str], outputs: list[str]) -> None:
    """tf2onnx names graph inputs/outputs after TF tensors ('images:0', 'Identity:0'); use the spec's names."""
    renames = {v.name: n for v, n in zip(model.graph.input, inputs)}
    renames.update({v.name: n for v, n in zip(model.graph.output, outputs)})
    for value in [*model.graph.input, *model.graph.output]:
        value.name = renames.get(value.name, value.name)
    for node in model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]


def jax_to_onnx(src: Path, dst: Path, ctx: ExportContext) -> None:
    from jax2onnx import to_onnx

    fn, spec = ctx.source_model, ctx.spec
    model = to_onnx(lambda *inputs: fn(*inputs), [("B", *t.shape[1:]) for t in spec.inputs],
                    opset=OPSET, input_names=spec.input_names, output_names=spec.output_names)
    _check_and_save(model, dst)
