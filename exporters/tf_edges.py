"""Edges into and out of TensorFlow: SavedModel from Keras / JAX / ONNX, SavedModel to TFLite and TF.js.

Every SavedModel has one `serving_default` signature whose inputs and outputs carry the spec's names, in the
spec's shapes (layout preserved), so TF Serving, TFLite and TF.js see the model's own contract.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from rosetta.core.spec import ModelSpec
from rosetta.exporters.context import ExportContext
from rosetta.exporters.runtimes import SIGNATURE
from rosetta.exporters.tfjs_compat import exact_rewrites, tfjs_converter
from rosetta.sources import name_outputs

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def input_signature(spec: ModelSpec, fixed: dict[str, tuple[int | None, ...]] | None = None) -> list[tf.TensorSpec]:
    """The spec's inputs, None for free dimensions, except inputs whose free axes a converter had to fix."""
    return [tf.TensorSpec((fixed or {}).get(t.name, t.static_shape), tf.as_dtype(t.dtype), name=t.name)
            for t in spec.inputs]


def _save_serving(module: tf.Module, fn: Callable[..., object], dst: Path, ctx: ExportContext,
                  fixed: dict[str, tuple[int | None, ...]] | None = None) -> None:
    """Save `fn(*inputs in spec order)` as the `serving_default` signature, plus warm-up records."""
    spec = ctx.spec

    # autograph off: no Python control flow to convert; the signature takes the spec's named inputs.
    @tf.function(input_signature=input_signature(spec, fixed), autograph=False)
    def serve(*inputs):
        return name_outputs(spec, fn(*inputs))

    tf.saved_model.save(module, str(dst), signatures={SIGNATURE: serve})
    write_warmup_requests(dst, ctx)


def write_warmup_requests(savedmodel_dir: Path, ctx: ExportContext) -> None:
    """TF Serving replays these PredictRequests at load, so the first real request is not the slow one."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    path = savedmodel_dir / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for rows in (1, None):  # one row, then the whole warm-up batch
            request = predict_pb2.PredictRequest()
            request.model_spec.name = ctx.model_name
            request.model_spec.signature_name = SIGNATURE
            for t in ctx.spec.inputs:
                batch = ctx.warmup[t.name][:rows]
                request.inputs[t.name].CopyFrom(tf.make_tensor_proto(batch.astype(t.dtype)))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def keras_to_savedmodel(src: Path, dst: Path, ctx: ExportContext) -> None:
    """Keras' own export (ExportArchive), with the spec's signature names.

    No `archive.track(model)`: add_endpoint already saves the tf.Variables the endpoint captures (and the
    lookup tables of built-in Keras layers); track() saved every weight a second time through the Keras
    Variable wrappers (the MLP's SavedModel: 919 kB -> 466 kB, same signature, same outputs, same TFLite).
    """
    import keras

    model, spec = ctx.source_model, ctx.spec
    archive = keras.export.ExportArchive()

    def endpoint(*inputs):
        return name_outputs(spec, model(list(inputs) if len(inputs) > 1 else inputs[0], training=False))
    archive.add_endpoint(name=SIGNATURE, fn=endpoint, input_signature=input_signature(spec))
    archive.write_out(str(dst), verbose=False)
    write_warmup_requests(dst, ctx)


def _polymorphic_shapes(spec: ModelSpec) -> list[str]:
    """jax2tf shape polymorphism: one symbolic batch dimension `b` shared by every input."""
    return ["(b, " + ", ".join(str(d) for d in t.shape[1:]) + ")" if len(t.shape) > 1 else "(b,)"
            for t in spec.inputs]


def jax_to_savedmodel(src: Path, dst: Path, ctx: ExportContext) -> None:
    """jax2tf native serialization: the function lowered to StableHLO inside an XlaCallModule op."""
    from jax.experimental import jax2tf

    arrays, apply_on = ctx.source_model.split()  # any pytree of variables: a flat list of arrays
    module = tf.Module()
    # Variables as tf.Variables (not graph constants), so the SavedModel keeps them in its variables/.
    module.variables_ = [tf.Variable(np.asarray(a), trainable=False) for a in arrays]
    converted = jax2tf.convert(apply_on, polymorphic_shapes=[None, *_polymorphic_shapes(ctx.spec)],
                               with_gradient=False)
    _save_serving(module, lambda *inputs: converted(list(module.variables_), *inputs), dst, ctx)


def fold_dynamic_reshapes(model):
    """Reshape targets computed at run time (Concat(Slice(Shape(x))), as attention layers export) -> constants
    with one -1, wherever ONNX shape inference knows every other output dimension. onnx2tf loses the rank of a
    Reshape whose target is a runtime tensor ("Cannot take the length of shape with unknown rank")."""
    import onnx
    from onnx import numpy_helper

    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in [*inferred.graph.value_info, *inferred.graph.output] if v.type.tensor_type.HasField("shape")}
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    for node in model.graph.node:
        shape = shapes.get(node.output[0]) if node.op_type == "Reshape" else None
        if shape is None or node.input[1] in constants or sum(d is None for d in shape) > 1:
            continue
        name = f"{node.output[0]}__folded_shape"
        model.graph.initializer.append(numpy_helper.from_array(
            np.array([-1 if d is None else d for d in shape], np.int64), name))
        node.input[1] = name
    return model


def onnx_to_savedmodel(src: Path, dst: Path, ctx: ExportContext) -> None:
    spec = ctx.spec
    # onnx2tf keeps a free sequence length, but converts a free image height/width into a graph that returns the
    # wrong number of rows (ResNet-50: 7 rows out for 32 in). Those axes are fixed at the example's size, and
    # the SavedModel's signature says so (the manifest records the static shape).
    def at_example_size(inputs) -> dict[str, tuple[int | None, ...]]:
        return {t.name: (None, *ctx.warmup[t.name].shape[1:]) for t in inputs}

    fixed = at_example_size(t for t in spec.inputs if len(t.shape) == 4 and t.free_axes)
    try:
        keras_model = _onnx2tf(src, spec, fixed)
    except Exception:  # noqa: BLE001 - a free axis onnx2tf cannot carry: convert once more with every one fixed
        if not any(t.free_axes for t in spec.inputs):
            raise
        fixed = at_example_size(t for t in spec.inputs if t.free_axes)
        keras_model = _onnx2tf(src, spec, fixed)
    module = tf.Module()
    module.model = keras_model

    def call(*inputs):
        outputs = keras_model(list(inputs) if len(inputs) > 1 else inputs[0])
        if isinstance(outputs, (list, tuple)):
            return [channels_first(o, t.shape) for o, t in zip(outputs, spec.outputs)]
        return channels_first(outputs, spec.outputs[0].shape)
    _save_serving(module, call, dst, ctx, fixed)


def _onnx2tf(src: Path, spec: ModelSpec, fixed: dict[str, tuple[int | None, ...]]):
    """onnx2tf on a copy of the ONNX file, with the inputs in `fixed` given those static sizes."""
    import onnx
    import onnx2tf

    with tempfile.TemporaryDirectory() as tmp:
        # onnx2tf rewrites its input file in place: convert a copy.
        onnx_copy = Path(tmp) / "model.onnx"
        # The graph only: weights kept in an external data file stay there, copied beside the copy.
        model = onnx.load(str(src), load_external_data=False)
        for graph_input in model.graph.input:
            for axis, size in enumerate(fixed.get(graph_input.name, ())):
                if size is not None:
                    graph_input.type.tensor_type.shape.dim[axis].dim_value = size
        onnx.save(fold_dynamic_reshapes(model), str(onnx_copy))
        for data in Path(src).parent.glob(f"{Path(src).name}.data"):
            shutil.copyfile(data, Path(tmp) / data.name)  # a copy, not a link: onnx2tf may rewrite its input
        return onnx2tf.convert(
            input_onnx_file_path=str(onnx_copy), output_folder_path=str(Path(tmp) / "out"),
            # onnx2tf transposes NCHW-looking inputs to NHWC; the spec's layout is the contract: keep every
            # input exactly as the source takes it (transposes go inside the graph).
            keep_shape_absolutely_input_names=spec.input_names,
            not_use_onnxsim=True, non_verbose=True, disable_model_save=True)


def channels_first(output: tf.Tensor, source_shape: tuple[int, ...]) -> tf.Tensor:
    """onnx2tf returns rank-3+ outputs channels-last; the source's (NCHW, NCW) output is the contract. Transposed
    back when the static shape is the source's with its axis 1 moved last (and not the source's own shape)."""
    shape, rank = output.shape.as_list(), len(source_shape)
    if rank < 3 or len(shape) != rank:
        return output

    def same(a: list, b: tuple) -> bool:
        return all(x is None or y < 0 or x == y for x, y in zip(a[1:], b[1:]))
    moved = (source_shape[0], *source_shape[2:], source_shape[1])
    if same(shape, source_shape) or not same(shape, moved):
        return output
    return tf.transpose(output, [0, rank - 1, *range(1, rank - 1)])


def tflite_converter(src: Path) -> tf.lite.TFLiteConverter:
    """The TFLite converter of a SavedModel's serving signature: every TFLite variant starts here."""
    return tf.lite.TFLiteConverter.from_saved_model(str(src), signature_keys=[SIGNATURE])


TFLITE_MAX_BYTES = 2 << 30  # a FlatBuffer addresses 2 GiB; the converter fails past it, after hours of memory


def check_tflite_size(src: Path) -> None:
    """A one-line refusal, before converting, of a SavedModel whose float weights cannot fit one .tflite file."""
    weights = sum(p.stat().st_size for p in (Path(src) / "variables").glob("*") if p.is_file())
    if weights >= TFLITE_MAX_BYTES:
        raise ValueError(f"TFLite's FlatBuffer format holds at most 2 GiB; this model's float weights are "
                         f"{weights / 2**30:.2f} GiB (serve it as ONNX with external data, SavedModel or TF.js)")


def savedmodel_to_tflite_fp32(src: Path, dst: Path, ctx: ExportContext) -> None:
    check_tflite_size(src)
    dst.write_bytes(tflite_converter(src).convert())


def savedmodel_to_tflite_int8(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any]:
    """Full-integer int8 that LiteRT's default delegate runs (exporters/tflite_quantization.py)."""
    from rosetta.exporters import tflite_quantization

    return tflite_quantization.savedmodel_to_tflite_int8(src, dst, ctx)


def savedmodel_to_tflite_int16x8(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any]:
    """int16 activations, int8 weights (exporters/tflite_quantization.py)."""
    from rosetta.exporters import tflite_quantization

    return tflite_quantization.savedmodel_to_tflite_int16x8(src, dst, ctx)


def savedmodel_to_tflite_dynamic_int8(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any]:
    """Dynamic-range int8: int8 weights, no calibration (exporters/tflite_quantization.py)."""
    from rosetta.exporters import tflite_quantization

    return tflite_quantization.savedmodel_to_tflite_dynamic_int8(src, dst, ctx)


def savedmodel_to_tfjs(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any] | None:
    """A TF.js *graph* model (Keras 3 layers models do not load in TF.js); ops TF.js lacks are rewritten into
    the same function of ops it has, and the entry lists the rewrites (`tfjs_rewrites`)."""
    converter = tfjs_converter()
    with exact_rewrites(converter) as rewrites:
        converter.convert_tf_saved_model(str(src), str(dst.parent), signature_def=SIGNATURE,
                                         saved_model_tags="serve")
    return {"tfjs_rewrites": dict(rewrites)} if rewrites else None
