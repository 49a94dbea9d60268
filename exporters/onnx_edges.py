"""Edges into ONNX: from PyTorch (dynamo exporter), from a TF SavedModel (tf2onnx), from JAX (jax2onnx).

Graph inputs and outputs carry the spec's names; the batch dimension stays symbolic.
"""
from __future__ import annotations

from pathlib import Path

import onnx

from exporters.context import ExportContext
from exporters.runtimes import SIGNATURE

OPSET = 18  # what every runtime here (ORT, onnxruntime-web, onnx2tf) reads, and tf2onnx's newest tested opset
# torch: opset 20 has a Gelu op, which onnx2tf maps to tf.nn.gelu; at 18 torch decomposes GELU around Erf,
# which onnx2tf's pattern match misses and TFLite has no kernel for (PINTO0309/onnx2tf#465).
TORCH_OPSET = 20


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
    program = torch.onnx.export(model, args, dynamo=True, opset_version=TORCH_OPSET, input_names=spec.input_names,
                                output_names=spec.output_names, dynamic_shapes=dynamic_shapes, verbose=False)
    program.optimize()
    _check_and_save(program.model_proto, dst)


def savedmodel_to_onnx(src: Path, dst: Path, ctx: ExportContext) -> None:
    """tf2onnx on the SavedModel's frozen serving signature, graph inputs/outputs named by signature key.

    Freezing the signature's graph (rather than tf2onnx.from_function on the loaded signature) keeps captured
    constants, e.g. a Keras Normalization layer's mean, as initializers instead of extra graph inputs.
    """
    from tf2onnx import convert, tf_loader

    spec = ctx.spec
    graph_def, inputs, outputs, renames = tf_loader.from_saved_model(
        str(src), None, None, tag="serve", signatures=[SIGNATURE], return_tensors_to_rename=True)
    model, _ = convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs, opset=OPSET,
                                      tensors_to_rename=renames)
    names = [v.name for v in model.graph.input], [v.name for v in model.graph.output]
    if sorted(names[0]) != sorted(spec.input_names) or sorted(names[1]) != sorted(spec.output_names):
        raise ValueError(f"tf2onnx named the graph's inputs {names[0]} and outputs {names[1]}; the spec says "
                         f"{spec.input_names} -> {spec.output_names}")
    _check_and_save(model, dst)


def jax_to_onnx(src: Path, dst: Path, ctx: ExportContext) -> None:
    from jax2onnx import to_onnx

    fn, spec = ctx.source_model, ctx.spec
    model = to_onnx(lambda *inputs: fn(*inputs), [("B", *t.shape[1:]) for t in spec.inputs],
                    opset=OPSET, input_names=spec.input_names, output_names=spec.output_names)
    # jax2onnx 0.17 records NHWC shapes on some NCHW intermediates of convolutions (ORT only warns, the full
    # checker refuses): drop its intermediate shape annotations and let ONNX infer them.
    del model.graph.value_info[:]
    _check_and_save(onnx.shape_inference.infer_shapes(model, strict_mode=True), dst)
