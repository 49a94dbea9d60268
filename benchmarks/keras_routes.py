"""Measure the export routes open to a Keras model trained on the JAX or PyTorch backend.

    python -m benchmarks.keras_routes MODEL_DIR WORK_DIR         # MODEL_DIR: a keras-jax or keras-torch checkpoint dir

Runs itself once per Keras backend (each in its own process: Keras reads KERAS_BACKEND once, at import):
  1. on the model's own backend: its outputs on the MNIST test split (the reference), and Keras' own
     `model.export` to onnx / tf_saved_model (JAX: jax2tf, XlaCallModule) / litert / torch (.pt2);
  2. on the TensorFlow backend: the same `.keras` file re-loaded -> ExportArchive SavedModel -> TFLite, and the
     Keras-made ONNX -> onnx2tf -> SavedModel -> TFLite.
Prints one row per route: works?, max |diff| against the reference, export seconds, TFLite op count.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

CHECKPOINT = "model.keras"


def _diff(out: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(np.asarray(out, np.float32) - ref).max())


def _row(rows: list, route: str, fn) -> None:
    start = time.perf_counter()
    try:
        diff, export_s, ops = fn()
        rows.append({"route": route, "works": True, "max_abs_diff": diff, "export_s": round(export_s, 2),
                     "tflite_ops": ops})
    except Exception as exc:  # noqa: BLE001 - a failing route is a result
        traceback.print_exc(limit=-2)
        rows.append({"route": route, "works": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                     "export_s": round(time.perf_counter() - start, 2)})


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _ort(path: Path, images: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: images[i:i + 1000]})[0] for i in range(0, len(images), 1000)])


def _tflite(path: Path, images: np.ndarray) -> tuple[np.ndarray, str]:
    from ai_edge_litert.interpreter import Interpreter

    from rosetta.exporters.tflite_ops import compute_op_histogram, op_histogram

    interpreter = Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner(next(iter(interpreter.get_signature_list())))
    (input_name,) = runner.get_input_details()
    out = np.concatenate([next(iter(runner(**{input_name: images[i:i + 1000]}).values()))
                          for i in range(0, len(images), 1000)])
    return out, f"{sum(op_histogram(path).values())} ({sum(compute_op_histogram(path).values())} compute)"


def own_backend(model_dir: Path, work: Path) -> list[dict]:
    import keras

    from rosetta.mnist import load_split
    from rosetta.models.keras_lane import load, predict

    images = load_split("test").images
    model = load(model_dir)
    ref = predict(model, images)
    model(images[:2])  # Keras' exporters refuse a model never called directly (predict does not count)
    np.save(work / "reference.npy", ref)
    backend, rows = keras.backend.backend(), []

    def onnx():
        import onnx as onnx_lib
        path = work / f"own-{backend}.onnx"
        seconds = _timed(lambda: model.export(str(path), format="onnx", verbose=False))
        return _diff(_ort(path, images), ref), seconds, f"onnx nodes: {len(onnx_lib.load(str(path)).graph.node)}"
    _row(rows, f"{backend}: keras export onnx", onnx)
    if backend == "jax":
        def saved_model():
            import tensorflow as tf
            path = work / "own-jax-savedmodel"
            seconds = _timed(lambda: model.export(str(path), format="tf_saved_model", verbose=False))
            fn = tf.saved_model.load(str(path)).signatures["serving_default"]
            out = np.concatenate([list(fn(tf.constant(images[i:i + 1000])).values())[0].numpy()
                                  for i in range(0, len(images), 1000)])
            tfl = work / "own-jax.tflite"
            converter = tf.lite.TFLiteConverter.from_saved_model(str(path))
            seconds += _timed(lambda: tfl.write_bytes(converter.convert()))
            lite, ops = _tflite(tfl, images)
            rows.append({"route": "jax: tf_saved_model (jax2tf) -> TFLite", "works": True,
                         "max_abs_diff": _diff(lite, ref), "tflite_ops": ops})
            return _diff(out, ref), seconds, None
        _row(rows, "jax: keras export tf_saved_model (jax2tf)", saved_model)
    if backend == "torch":
        def litert():
            path = work / "own-torch.tflite"
            seconds = _timed(lambda: model.export(str(path), format="litert", verbose=False))
            lite, ops = _tflite(path, images)
            return _diff(lite, ref), seconds, ops
        _row(rows, "torch: keras export litert", litert)

        import torch

        def pt2(export):
            def run():
                path = work / "own-torch.pt2"
                seconds = _timed(lambda: export(path))
                module = torch.export.load(str(path)).module()
                with torch.no_grad():
                    out = np.concatenate([module(torch.from_numpy(images[i:i + 1000])).numpy()
                                          for i in range(0, len(images), 1000)])
                return _diff(out, ref), seconds, None
            return run
        batch = {0: torch.export.Dim("batch", min=1)}
        _row(rows, "torch: keras export torch (.pt2), static batch",
             pt2(lambda p: model.export(str(p), format="torch", verbose=False)))
        _row(rows, "torch: keras export torch (.pt2), dynamic batch",
             pt2(lambda p: model.export(str(p), format="torch", verbose=False, dynamic_shapes=batch)))
        _row(rows, "torch: torch.export.export(model) (.pt2), dynamic batch",
             pt2(lambda p: torch.export.save(torch.export.export(model.eval(), (torch.from_numpy(images[:2]),),
                                                                 dynamic_shapes=((batch,),)), str(p))))
    return rows


def tensorflow_backend(model_dir: Path, work: Path, source_backend: str) -> list[dict]:
    from rosetta import contract
    from rosetta.exporters import tf_edges
    from rosetta.exporters.context import ExportContext
    from rosetta.mnist import load_split
    from rosetta.models.keras_lane import load
    from rosetta.sources import Source

    images, ref, rows = load_split("test").images, np.load(work / "reference.npy"), []
    spec = contract.MNIST_MLP
    ctx = ExportContext(Source("keras", load(model_dir), str(model_dir / CHECKPOINT)), spec,
                        {"images": load_split("train").images[:500]}, {"images": images[:8]})

    def via(name: str, edge, src: Path):
        def run():
            sm, tfl = work / f"{name}-savedmodel", work / f"{name}.tflite"
            seconds = _timed(lambda: edge(src, sm, ctx))
            seconds += _timed(lambda: tf_edges.savedmodel_to_tflite_fp32(sm, tfl, ctx))
            lite, ops = _tflite(tfl, images)
            return _diff(lite, ref), seconds, ops
        return run
    _row(rows, f"{source_backend}: .keras on TF backend -> ExportArchive -> TFLite",
         via("reload", tf_edges.keras_to_savedmodel, model_dir / CHECKPOINT))
    onnx = work / f"own-{source_backend}.onnx"
    if onnx.is_file():
        _row(rows, f"{source_backend}: keras ONNX -> onnx2tf -> TFLite",
             via("onnx2tf", tf_edges.onnx_to_savedmodel, onnx))
    return rows


def main() -> None:
    model_dir, work = Path(sys.argv[1]), Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    if len(sys.argv) > 3:  # a child: one backend
        role = sys.argv[3]
        rows = own_backend(model_dir, work) if role == "own" else tensorflow_backend(model_dir, work, role)
        (work / f"rows-{role}.json").write_text(json.dumps(rows, indent=1))
        return
    source_backend = json.loads((model_dir / "metrics.json").read_text())["lane"].removeprefix("keras-")
    for backend, role in ((source_backend, "own"), ("tensorflow", source_backend)):
        subprocess.run([sys.executable, "-m", "benchmarks.keras_routes", str(model_dir), str(work), role], check=True,
                       env={**os.environ, "KERAS_BACKEND": backend})
    for role in ("own", source_backend):
        for row in json.loads((work / f"rows-{role}.json").read_text()):
            print(json.dumps(row))


if __name__ == "__main__":
    main()
