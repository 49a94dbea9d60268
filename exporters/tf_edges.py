"""Edges into and out of TensorFlow: SavedModel from Keras / JAX / ONNX, SavedModel to TFLite and TF.js.

Every SavedModel has one `serving_default` signature whose inputs and outputs carry the spec's names, in the
spec's shapes (layout preserved), so TF Serving, TFLite and TF.js see the model's own contract.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from rosetta.core.spec import ModelSpec
from rosetta.exporters.context import ExportContext
from rosetta.exporters.runtimes import SIGNATURE
from rosetta.exporters.tfjs_compat import tfjs_converter
from rosetta.sources import name_outputs

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def input_signature(spec: ModelSpec) -> list[tf.TensorSpec]:
    return [tf.TensorSpec(t.static_shape, tf.as_dtype(t.dtype), name=t.name) for t in spec.inputs]


def _save_serving(module: tf.Module, fn: Callable[..., object], dst: Path, ctx: ExportContext) -> None:
    """Save `fn(*inputs in spec order)` as the `serving_default` signature, plus warm-up records."""
    spec = ctx.spec

    # autograph off: no Python control flow to convert; the signature takes the spec's named inputs.
    @tf.function(input_signature=input_signature(spec), autograph=False)
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

    fn = ctx.source_model
    module = tf.Module()
    # Variables as tf.Variables (not graph constants), so the SavedModel keeps them in its variables/.
    module.variables_ = tf.nest.map_structure(lambda a: tf.Variable(np.asarray(a), trainable=False), fn.variables)
    converted = jax2tf.convert(fn.apply, polymorphic_shapes=[None, *_polymorphic_shapes(ctx.spec)],
                               with_gradient=False)
    _save_serving(module, lambda *inputs: converted(module.variables_, *inputs), dst, ctx)


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
    import onnx
    import onnx2tf

    spec = ctx.spec
    with tempfile.TemporaryDirectory() as tmp:
        # onnx2tf rewrites its input file in place: convert a copy.
        onnx_copy = Path(tmp) / "model.onnx"
        onnx.save(fold_dynamic_reshapes(onnx.load(str(src))), str(onnx_copy))
        keras_model = onnx2tf.convert(
            input_onnx_file_path=str(onnx_copy), output_folder_path=str(Path(tmp) / "out"),
            # onnx2tf transposes NCHW-looking inputs to NHWC; the spec's layout is the contract: keep every
            # input exactly as the source takes it (transposes go inside the graph).
            keep_shape_absolutely_input_names=spec.input_names,
            not_use_onnxsim=True, non_verbose=True, disable_model_save=True)
    module = tf.Module()
    module.model = keras_model

    def call(*inputs):
        return keras_model(list(inputs) if len(inputs) > 1 else inputs[0])
    _save_serving(module, call, dst, ctx)


def _tflite_converter(src: Path) -> tf.lite.TFLiteConverter:
    return tf.lite.TFLiteConverter.from_saved_model(str(src), signature_keys=[SIGNATURE])


def savedmodel_to_tflite_fp32(src: Path, dst: Path, ctx: ExportContext) -> None:
    dst.write_bytes(_tflite_converter(src).convert())


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


def savedmodel_to_tfjs(src: Path, dst: Path, ctx: ExportContext) -> None:
    """A TF.js *graph* model (Keras 3 layers models do not load in TF.js)."""
    tfjs_converter().convert_tf_saved_model(str(src), str(dst.parent), signature_def=SIGNATURE,
                                            saved_model_tags="serve")
