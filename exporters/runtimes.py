"""One runtime per artifact format: the engine that will really execute it, loaded and run here.

Each runtime answers `load(path) -> predict` (predict: float32 [N, 28, 28] images -> probabilities [N, 10]),
`run(path, images)` over a whole set, and `signature(path)` as the runtime itself reports it (names, shapes,
dtypes, quantization parameters).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rosetta import contract
from rosetta.data import REPO_ROOT

JS_DIR = REPO_ROOT / "js"
CHUNK = 1000  # images per runtime call: bounded memory, realistic batch


Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Runtime:
    name: str
    distribution: str  # whose version the manifest records ("node:@tensorflow/tfjs" for JS packages)
    load: Callable[[Path], Predict] | None  # None: runs out of process (see run)
    signature: Callable[[Path], dict[str, Any]]
    batch_run: Callable[[Path, np.ndarray], np.ndarray] | None = None

    def run(self, path: Path, images: np.ndarray) -> np.ndarray:
        if self.batch_run:
            return self.batch_run(path, images)
        predict = self.load(path)
        return np.concatenate([predict(x) for x in _chunks(images)]).astype(np.float32)


def _chunks(images: np.ndarray):
    for i in range(0, len(images), CHUNK):
        yield np.ascontiguousarray(images[i:i + CHUNK], dtype=np.float32)


def _spec(name: str, shape, dtype: str, quantization: dict | None = None) -> dict[str, Any]:
    spec = {"name": name, "shape": [None if (d is None or d < 0) else int(d) for d in shape], "dtype": dtype}
    if quantization:
        spec["quantization"] = quantization
    return spec


# --- TensorFlow SavedModel, called through its serving signature as TF Serving does --------------------------
def _savedmodel_fn(path: Path):
    import tensorflow as tf

    return tf.saved_model.load(str(path), tags=["serve"]).signatures["serving_default"]


def load_savedmodel(path: Path) -> Predict:
    fn = _savedmodel_fn(path)
    return lambda x: fn(**{contract.INPUT_NAME: x})[contract.OUTPUT_NAME].numpy()


def signature_savedmodel(path: Path) -> dict[str, Any]:
    fn = _savedmodel_fn(path)
    (_, inputs), outputs = fn.structured_input_signature, fn.structured_outputs
    return {"signature_def": "serving_default", "tags": ["serve"],
            "inputs": [_spec(k, v.shape.as_list(), v.dtype.name) for k, v in inputs.items()],
            "outputs": [_spec(k, v.shape.as_list(), v.dtype.name) for k, v in outputs.items()]}


# --- LiteRT (the TFLite runtime) -----------------------------------------------------------------------------
def _interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path), num_threads=2)


def _quant(detail: dict) -> dict | None:
    scale, zero_point = detail["quantization"]
    return {"scale": float(scale), "zero_point": int(zero_point)} if scale else None


def load_tflite(path: Path) -> Predict:
    """Quantizes inputs / dequantizes outputs with the model's own parameters when it is integer-only."""
    interpreter = _interpreter(path)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    in_q, out_q = _quant(inp), _quant(out)
    shape = [None]

    def predict(x: np.ndarray) -> np.ndarray:
        if shape[0] != x.shape:  # re-allocating per call would dominate batch-1 latency
            interpreter.resize_tensor_input(inp["index"], x.shape)
            interpreter.allocate_tensors()
            shape[0] = x.shape
        if in_q:
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / in_q["scale"] + in_q["zero_point"]), info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])
        return (y.astype(np.float32) - out_q["zero_point"]) * out_q["scale"] if out_q else y
    return predict


def signature_tflite(path: Path) -> dict[str, Any]:
    interpreter = _interpreter(path)

    def describe(d):
        return _spec(d["name"], d["shape_signature"], np.dtype(d["dtype"]).name, _quant(d))
    return {"inputs": [describe(d) for d in interpreter.get_input_details()],
            "outputs": [describe(d) for d in interpreter.get_output_details()]}


# --- ONNX Runtime --------------------------------------------------------------------------------------------
def _ort_session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def load_onnx(path: Path) -> Predict:
    session = _ort_session(path)
    return lambda x: session.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: x})[0]


def signature_onnx(path: Path) -> dict[str, Any]:
    import onnx

    session, model = _ort_session(path), onnx.load(str(path))
    dtype = {"tensor(float)": "float32"}
    return {"opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
            "inputs": [_spec(i.name, [d if isinstance(d, int) else None for d in i.shape], dtype.get(i.type, i.type))
                       for i in session.get_inputs()],
            "outputs": [_spec(o.name, [d if isinstance(d, int) else None for d in o.shape], dtype.get(o.type, o.type))
                        for o in session.get_outputs()]}


# --- PyTorch: TorchScript and torch.export -------------------------------------------------------------------
def _torch_predict(module) -> Predict:
    import torch

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()
    return predict


def load_torchscript(path: Path) -> Predict:
    import torch

    return _torch_predict(torch.jit.load(str(path)).eval())


def load_pt2(path: Path) -> Predict:
    import torch

    return _torch_predict(torch.export.load(str(path)).module())


def signature_torch(path: Path) -> dict[str, Any]:
    return {"inputs": [_spec(contract.INPUT_NAME, [None, *contract.IMAGE_SHAPE], "float32")],
            "outputs": [_spec(contract.OUTPUT_NAME, [None, contract.NUM_CLASSES], "float32")],
            "note": "positional forward(images); shapes from the export's dynamic batch dimension"}


# --- TF.js, in Node with the real @tensorflow/tfjs package ---------------------------------------------------
TFJS_BACKEND = "wasm"  # what a browser without WebGL runs; 15x faster than the pure-JS "cpu" backend here


def run_tfjs(path: Path, images: np.ndarray, backend: str = TFJS_BACKEND) -> np.ndarray:
    """Runs js/tfjs_predict.mjs: the graph model loaded by @tensorflow/tfjs in Node."""
    with tempfile.TemporaryDirectory() as tmp:
        x_path, y_path = Path(tmp) / "images.f32", Path(tmp) / "probabilities.f32"
        np.ascontiguousarray(images, dtype="<f4").tofile(x_path)
        proc = subprocess.run(["node", str(JS_DIR / "tfjs_predict.mjs"), str(Path(path).resolve()), str(x_path),
                               str(len(images)), str(y_path), backend], capture_output=True, text=True,
                              timeout=600, cwd=JS_DIR)
        if proc.returncode != 0:
            raise RuntimeError(f"TF.js in Node failed: {proc.stderr.strip()[-2000:]}")
        return np.fromfile(y_path, dtype="<f4").reshape(len(images), contract.NUM_CLASSES)


def signature_tfjs(path: Path) -> dict[str, Any]:
    model = json.loads(Path(path).read_text())
    sig = model.get("signature") or model.get("userDefinedMetadata", {}).get("signature", {})

    def describe(entries: dict):
        return [_spec(k.split(":")[0], [int(d["size"]) for d in v["tensorShape"]["dim"]],
                      v["dtype"].replace("DT_", "").lower()) for k, v in entries.items()]
    return {"format": model.get("format"), "inputs": describe(sig.get("inputs", {})),
            "outputs": describe(sig.get("outputs", {}))}


RUNTIMES: dict[str, Runtime] = {
    "savedmodel": Runtime("tensorflow", "tensorflow", load_savedmodel, signature_savedmodel),
    "tflite-fp32": Runtime("litert", "ai-edge-litert", load_tflite, signature_tflite),
    "tflite-int8": Runtime("litert", "ai-edge-litert", load_tflite, signature_tflite),
    "tfjs": Runtime(f"tfjs-node-{TFJS_BACKEND}", "node:@tensorflow/tfjs", None, signature_tfjs, batch_run=run_tfjs),
    "onnx": Runtime("onnxruntime", "onnxruntime", load_onnx, signature_onnx),
    "torchscript": Runtime("torchscript", "torch", load_torchscript, signature_torch),
    "pt2": Runtime("torch.export", "torch", load_pt2, signature_torch),
}
