"""Edges into and out of TensorFlow: SavedModel from Keras / JAX / ONNX, SavedModel to TFLite and TF.js."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from exporters.context import ExportContext
from exporters.tfjs_compat import tfjs_converter
from rosetta import contract

SIGNATURE = "serving_default"
INPUT_TENSOR_SPEC = tf.TensorSpec([None, *contract.IMAGE_SHAPE], tf.float32, name=contract.INPUT_NAME)
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def _save_serving(module: tf.Module, fn, dst: Path, ctx: ExportContext) -> None:
    """Save `fn` (images -> probabilities) as the `serving_default` signature, plus warm-up records."""
    @tf.function(input_signature=[INPUT_TENSOR_SPEC], autograph=False)  # no Python control flow to convert
    def serve(images):
        return {contract.OUTPUT_NAME: fn(images)}

    tf.saved_model.save(module, str(dst), signatures={SIGNATURE: serve})
    write_warmup_requests(dst, ctx)


def write_warmup_requests(savedmodel_dir: Path, ctx: ExportContext) -> None:
    """TF Serving replays these PredictRequests at load, so the first real request is not the slow one."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    path = savedmodel_dir / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for batch in (ctx.warmup[:1], ctx.warmup):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = ctx.model_name
            request.model_spec.signature_name = SIGNATURE
            request.inputs[contract.INPUT_NAME].CopyFrom(tf.make_tensor_proto(batch.astype(np.float32)))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def keras_to_savedmodel(src: Path, dst: Path, ctx: ExportContext) -> None:
    """Keras' own export (ExportArchive), with the contract's signature names."""
    import keras

    model = ctx.source_model
    archive = keras.export.ExportArchive()
    archive.track(model)  # stores Keras variables as TF variables that TFLite/TF.js converters can freeze
    archive.add_endpoint(name=SIGNATURE, fn=lambda images: {contract.OUTPUT_NAME: model(images, training=False)},
                         input_signature=[INPUT_TENSOR_SPEC])
    archive.write_out(str(dst), verbose=False)
    write_warmup_requests(dst, ctx)


def jax_to_savedmodel(src: Path, dst: Path, ctx: ExportContext) -> None:
    from jax.experimental import jax2tf

    from models.jax_mlp import probabilities

    module = tf.Module()
    # Parameters as tf.Variables (not graph constants), so the SavedModel keeps them in its variables/.
    module.params = tf.nest.map_structure(lambda a: tf.Variable(np.asarray(a), trainable=False),
                                          ctx.source_model.params)
    converted = jax2tf.convert(probabilities, polymorphic_shapes=[None, "(b, 28, 28)"], with_gradient=False)
    _save_serving(module, lambda images: converted(module.params, images), dst, ctx)


def onnx_to_savedmodel(src: Path, dst: Path, ctx: ExportContext) -> None:
    import onnx2tf

    with tempfile.TemporaryDirectory() as tmp:
        # onnx2tf rewrites its input file in place: convert a copy.
        onnx_copy = Path(tmp) / "model.onnx"
        shutil.copy(src, onnx_copy)
        keras_model = onnx2tf.convert(
            input_onnx_file_path=str(onnx_copy), output_folder_path=str(Path(tmp) / "out"),
            # [N, 28, 28] is not NCW: keep it as is instead of transposing to "channels last".
            keep_shape_absolutely_input_names=[contract.INPUT_NAME],
            not_use_onnxsim=True, non_verbose=True, disable_model_save=True)
    module = tf.Module()
    module.model = keras_model
    _save_serving(module, lambda images: keras_model(images), dst, ctx)


def _tflite_converter(src: Path) -> tf.lite.TFLiteConverter:
    return tf.lite.TFLiteConverter.from_saved_model(str(src), signature_keys=[SIGNATURE])


def savedmodel_to_tflite_fp32(src: Path, dst: Path, ctx: ExportContext) -> None:
    dst.write_bytes(_tflite_converter(src).convert())


def savedmodel_to_tflite_int8(src: Path, dst: Path, ctx: ExportContext) -> None:
    """Full-integer post-training quantization; calibration images come from the training split."""
    converter = _tflite_converter(src)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([ctx.representative[i:i + 1]]
                                                 for i in range(len(ctx.representative)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    dst.write_bytes(converter.convert())


def savedmodel_to_tfjs(src: Path, dst: Path, ctx: ExportContext) -> None:
    """A TF.js *graph* model (Keras 3 layers models do not load in TF.js)."""
    tfjs_converter().convert_tf_saved_model(str(src), str(dst.parent), signature_def=SIGNATURE,
                                            saved_model_tags="serve")
