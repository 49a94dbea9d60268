"""Edges into ONNX: from PyTorch (dynamo exporter), from a TF SavedModel (tf2onnx), from JAX (jax2onnx).

Graph inputs and outputs carry the spec's names; the batch dimension stays symbolic.
"""
from __future__ import annotations

from pathlib import Path

import onnx

from rosetta.exporters.context import ExportContext
from rosetta.exporters.runtimes import SIGNATURE

OPSET = 18  # what every runtime here (ORT, onnxruntime-web, onnx2tf) reads, and tf2onnx's newest tested opset
# torch: opset 20 has a Gelu op, which onnx2tf maps to tf.nn.gelu; at 18 torch decomposes GELU around Erf,
# which onnx2tf's pattern match misses and TFLite has no kernel for (PINTO0309/onnx2tf#465).
TORCH_OPSET = 20


# Protobuf cannot serialize a message over 2 GiB: a model whose weights come near that keeps them in one external
# data file beside model.onnx (DIR/<model>/<N>/onnx/model.onnx.data), which ONNX Runtime reads from the same folder.
EXTERNAL_DATA_BYTES = 1536 << 20


def external_data_name(dst: Path) -> str:
    return dst.name + ".data"


def weight_bytes(model: onnx.ModelProto) -> int:
    return sum(len(t.raw_data) for t in model.graph.initializer)


def _check_and_save(model: onnx.ModelProto, dst: Path) -> None:
    if weight_bytes(model) < EXTERNAL_DATA_BYTES:
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(dst))
        return
    onnx.save(model, str(dst), save_as_external_data=True, all_tensors_to_one_file=True,
              location=external_data_name(dst), size_threshold=1024)
    onnx.checker.check_model(str(dst), full_check=True)  # by path: the checker reads the external data itself


def torch_to_onnx(src: Path, dst: Path, ctx: ExportContext) -> None:
    import torch

    from rosetta.exporters.torch_edges import dynamic_batch, example_args

    spec, model = ctx.spec, ctx.source_model
    if isinstance(model, torch.export.ExportedProgram):  # a user's .pt2: exported already, dims and all
        args, dynamic_shapes = None, None
    else:
        model, args, dynamic_shapes = model.eval(), example_args(ctx), dynamic_batch(spec)
    program = torch.onnx.export(model, args, dynamo=True, opset_version=TORCH_OPSET, input_names=spec.input_names,
                                output_names=spec.output_names, dynamic_shapes=dynamic_shapes, verbose=False)
    program.optimize()
    weights = sum(v.const_value.nbytes for v in program.model.graph.initializers.values() if v.const_value is not None)
    if weights < EXTERNAL_DATA_BYTES:
        _check_and_save(program.model_proto, dst)
        return
    program.save(str(dst), external_data=True)  # never builds the whole model as one protobuf message
    onnx.checker.check_model(str(dst), full_check=True)


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
    _check_and_save(tidy_jax2onnx(model), dst)


def tidy_jax2onnx(model: onnx.ModelProto) -> onnx.ModelProto:
    """jax2onnx 0.17.1 output, made valid and convertible by onnx2tf without changing what it computes.

    - Its shape annotations can contradict its own ops (Flax NHWC Conv -> BatchNorm -> ReLU: the NHWC shape on
      a tensor it transposed to NCHW), which the full checker rejects: drop them and re-infer from the ops,
      with data propagation so runtime-built shapes like [B, 28, 28, 1] keep their static dims.
    - It lowers `x[..., None]` to Reshape + an Expand to the same shape; onnx2tf turns that Expand into
      FILL + MUL with unknown dims, and a Conv behind it then needs TF (Flex) ops in TFLite. Such an Expand
      is the identity: remove it, then every node nothing reads any more.
    """
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    shapes = {v.name: v.type.tensor_type.shape for v in [*model.graph.input, *model.graph.value_info]}

    def known(name: str) -> list | None:
        shape = shapes.get(name)
        dims = [d.dim_value or d.dim_param or None for d in shape.dim] if shape is not None else None
        return dims if dims is not None and None not in dims else None

    renames = {}
    for node in model.graph.node:
        if node.op_type == "Expand" and known(node.input[0]) and known(node.input[0]) == known(node.output[0]):
            renames[node.output[0]] = node.input[0]
    graph_outputs = {o.name for o in model.graph.output}
    renames = {k: v for k, v in renames.items() if k not in graph_outputs}
    nodes = [n for n in model.graph.node if not (n.op_type == "Expand" and n.output[0] in renames)]
    for node in nodes:
        node.input[:] = [renames.get(i, i) for i in node.input]
    needed, kept = set(graph_outputs), []
    for node in reversed(nodes):  # nodes are topologically sorted: walk back from the outputs
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    used = {i for n in kept for i in n.input}
    live_inits = [i for i in model.graph.initializer if i.name in used or i.name in graph_outputs]
    del model.graph.initializer[:]
    model.graph.initializer.extend(live_inits)
    live_info = [v for v in model.graph.value_info if v.name in used]
    del model.graph.value_info[:]
    model.graph.value_info.extend(live_info)
    return model
