"""One runtime per artifact format: the engine that will really execute it, loaded and run here.

Each runtime answers `load(path, spec) -> predict` (named input arrays -> named output arrays, the names and
order of the model spec), `run(path, spec, inputs)` over a whole set in bounded chunks, and
`signature(path, spec)` as the runtime itself reports it (names, shapes, dtypes, quantization parameters).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rosetta.core.package_data import js_dir
from rosetta.core.spec import ModelSpec, batch_chunks, batch_size, slice_batch
from rosetta.sources import name_outputs

CHUNK = 1000  # rows per runtime call: bounded memory, realistic batch
SIGNATURE = "serving_default"  # the SavedModel / TFLite signature every artifact is called through

Arrays = dict[str, np.ndarray]
Predict = Callable[[Mapping[str, np.ndarray]], Arrays]


class Outputs(dict):
    """Named output arrays, plus what the manifest should know about how they were obtained (e.g. a fallback)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], notes: dict[str, str] | None = None) -> None:
        super().__init__(arrays)
        self.notes = notes or {}


@dataclass(frozen=True)
class Runtime:
    name: str
    distribution: str  # whose version the manifest records ("node:@tensorflow/tfjs" for JS packages)
    load: Callable[[Path, ModelSpec], Predict] | None  # None: runs out of process (see run)
    signature: Callable[[Path, ModelSpec], dict[str, Any]]
    batch_run: Callable[[Path, ModelSpec, Mapping[str, np.ndarray]], Arrays] | None = None

    def run(self, path: Path, spec: ModelSpec, inputs: Mapping[str, np.ndarray]) -> Arrays:
        if self.batch_run:
            return self.batch_run(path, spec, inputs)
        predict = self.load(path, spec)
        parts = [predict(slice_batch(inputs, i, j)) for i, j in batch_chunks(spec, batch_size(inputs), CHUNK)]
        return {name: np.concatenate([p[name] for p in parts]) for name in spec.output_names}


def _spec(name: str, shape, dtype: str, quantization: dict | None = None) -> dict[str, Any]:
    spec = {"name": name, "shape": [None if (d is None or d < 0) else int(d) for d in shape], "dtype": dtype}
    if quantization:
        spec["quantization"] = quantization
    return spec


# --- TensorFlow SavedModel, called through its serving signature as TF Serving does --------------------------
def _savedmodel_fn(path: Path):
    import tensorflow as tf

    return tf.saved_model.load(str(path), tags=["serve"]).signatures[SIGNATURE]


def load_savedmodel(path: Path, spec: ModelSpec) -> Predict:
    fn = _savedmodel_fn(path)
    return lambda x: {name: t.numpy() for name, t in fn(**x).items() if name in spec.output_names}


def signature_savedmodel(path: Path, spec: ModelSpec) -> dict[str, Any]:
    fn = _savedmodel_fn(path)
    (_, inputs), outputs = fn.structured_input_signature, fn.structured_outputs
    return {"signature_def": SIGNATURE, "tags": ["serve"],
            "inputs": [_spec(k, v.shape.as_list(), v.dtype.name) for k, v in inputs.items()],
            "outputs": [_spec(k, v.shape.as_list(), v.dtype.name) for k, v in outputs.items()]}


# --- LiteRT (the TFLite runtime) -----------------------------------------------------------------------------
def _interpreter(path: Path | None = None, content: bytes | None = None):
    """LiteRT as a phone runs it: the builtin kernels with the default delegate (XNNPACK) applied."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    return Interpreter(model_path=str(path) if path else None, model_content=content, num_threads=2,
                       experimental_op_resolver_type=OpResolverType.AUTO)


def _quant(detail: dict) -> dict | None:
    scale, zero_point = detail["quantization"]
    return {"scale": float(scale), "zero_point": int(zero_point)} if scale else None


def _signature_details(interpreter) -> tuple[dict[str, dict], dict[str, dict]]:
    """Tensor details by signature name: a converted model's tensor names are TF's internal ones."""
    runner = interpreter.get_signature_runner(SIGNATURE)
    return runner.get_input_details(), runner.get_output_details()


def quantize_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float rows into an integer input with the model's own scale and zero point (as is otherwise)."""
    q = _quant(detail)
    if q and np.issubdtype(detail["dtype"], np.integer) and x.dtype.kind == "f":
        info = np.iinfo(detail["dtype"])
        return np.clip(np.round(x / q["scale"] + q["zero_point"]), info.min, info.max).astype(detail["dtype"])
    return x.astype(detail["dtype"], copy=False)


def _tflite_predict(interpreter, spec: ModelSpec) -> Predict:
    """Runs through the `serving_default` signature's tensors; quantizes inputs / dequantizes outputs with the
    model's own parameters when it is integer-only."""
    inputs, outputs = _signature_details(interpreter)
    interpreter.allocate_tensors()
    shapes: dict[str, tuple] = {}

    def predict(x: Mapping[str, np.ndarray]) -> Arrays:
        resized = False
        for name, detail in inputs.items():
            if shapes.get(name) != x[name].shape:  # re-allocating per call would dominate batch-1 latency
                interpreter.resize_tensor_input(detail["index"], x[name].shape)
                shapes[name], resized = x[name].shape, True
        if resized:
            interpreter.allocate_tensors()
        for name, detail in inputs.items():
            interpreter.set_tensor(detail["index"], quantize_input(x[name], detail))
        interpreter.invoke()
        result = {}
        for name in spec.output_names:
            detail, q = outputs[name], _quant(outputs[name])
            y = interpreter.get_tensor(detail["index"])
            result[name] = (y.astype(np.float32) - q["zero_point"]) * q["scale"] if q else y
        return result
    return predict


def load_tflite(path: Path, spec: ModelSpec) -> Predict:
    return _tflite_predict(_interpreter(path), spec)


def load_tflite_bytes(content: bytes, spec: ModelSpec) -> tuple[Predict, Any]:
    """A model still in memory (a quantization candidate), and its interpreter."""
    interpreter = _interpreter(content=content)
    return _tflite_predict(interpreter, spec), interpreter


def delegated_nodes(interpreter) -> int:
    """How many delegate kernels the default delegate put in the execution plan (0: every op on builtins)."""
    return sum(1 for op in interpreter._get_ops_details() if op["op_name"] == "DELEGATE")  # noqa: SLF001


def run_tflite(path: Path, spec: ModelSpec, inputs: Mapping[str, np.ndarray]) -> Outputs:
    """The whole set in CHUNK-row calls; the notes say what executed it (the default delegate's node count)."""
    interpreter = _interpreter(path)
    predict = _tflite_predict(interpreter, spec)
    n = batch_size(inputs)
    parts = [predict(slice_batch(inputs, i, i + CHUNK)) for i in range(0, n, CHUNK)]
    return Outputs({name: np.concatenate([p[name] for p in parts]) for name in spec.output_names},
                   {"delegate": "XNNPACK (LiteRT default)", "delegated_nodes": delegated_nodes(interpreter)})


def signature_tflite(path: Path, spec: ModelSpec) -> dict[str, Any]:
    inputs, outputs = _signature_details(_interpreter(path))

    def describe(name: str, d: dict) -> dict[str, Any]:
        return _spec(name, d["shape_signature"], np.dtype(d["dtype"]).name, _quant(d))
    return {"signature_def": SIGNATURE, "inputs": [describe(k, v) for k, v in inputs.items()],
            "outputs": [describe(k, v) for k, v in outputs.items()]}


# --- ONNX Runtime --------------------------------------------------------------------------------------------
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
               "tensor(int32)": "int32", "tensor(uint8)": "uint8", "tensor(int8)": "int8", "tensor(bool)": "bool",
               "tensor(float16)": "float16"}


def _ort_session(path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def load_onnx(path: Path, spec: ModelSpec) -> Predict:
    session = _ort_session(path)
    return lambda x: dict(zip(spec.output_names, session.run(spec.output_names, dict(x))))


def signature_onnx(path: Path, spec: ModelSpec) -> dict[str, Any]:
    import onnx

    session, model = _ort_session(path), onnx.load(str(path), load_external_data=False)

    def describe(t) -> dict[str, Any]:
        return _spec(t.name, [d if isinstance(d, int) else None for d in t.shape], _ORT_DTYPES.get(t.type, t.type))
    return {"opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
            "inputs": [describe(i) for i in session.get_inputs()],
            "outputs": [describe(o) for o in session.get_outputs()]}


# --- PyTorch: TorchScript and torch.export -------------------------------------------------------------------
def torch_predict(module, spec: ModelSpec) -> Predict:
    """forward(*inputs in spec order) -> a tensor or a tuple of tensors in spec output order."""
    import torch

    def predict(x: Mapping[str, np.ndarray]) -> Arrays:
        with torch.inference_mode():
            out = module(*(torch.from_numpy(np.ascontiguousarray(x[n])) for n in spec.input_names))
        if isinstance(out, dict):
            return name_outputs(spec, {k: v.numpy() for k, v in out.items()})
        return name_outputs(spec, [t.numpy() for t in out] if isinstance(out, (list, tuple)) else out.numpy())
    return predict


def load_torchscript(path: Path, spec: ModelSpec) -> Predict:
    import torch

    return torch_predict(torch.jit.load(str(path)).eval(), spec)


def load_pt2(path: Path, spec: ModelSpec) -> Predict:
    import torch

    return torch_predict(torch.export.load(str(path)).module(), spec)


def signature_torchscript(path: Path, spec: ModelSpec) -> dict[str, Any]:
    import torch

    args = [a.name for a in torch.jit.load(str(path)).forward.schema.arguments[1:]]  # [0] is self
    return {"forward": args, "inputs": [_spec(t.name, t.shape, t.dtype.name) for t in spec.inputs],
            "outputs": [_spec(t.name, t.shape, t.dtype.name) for t in spec.outputs],
            "note": "positional forward(*inputs) in spec order; dtypes and shapes from the spec"}


def signature_pt2(path: Path, spec: ModelSpec) -> dict[str, Any]:
    """Input shapes as torch.export recorded them: symbolic dimensions (the batch) are free."""
    import torch

    program = torch.export.load(str(path))
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    user_inputs = program.graph_signature.user_inputs

    def shape(name: str) -> list[int | None]:
        val = placeholders[name].meta.get("val")
        return [int(d) if isinstance(d, int) else None for d in val.shape] if val is not None else []
    inputs = [_spec(t.name, shape(n), t.dtype.name) for t, n in zip(spec.inputs, user_inputs)]
    return {"inputs": inputs, "outputs": [_spec(t.name, t.shape, t.dtype.name) for t in spec.outputs],
            "note": "positional forward(*inputs) in spec order"}


# --- OpenVINO runtime, CPU plugin ----------------------------------------------------------------------------
# float32 arithmetic: on CPUs with bf16 units the plugin would otherwise pick bf16 (a float artifact, float gate).
OPENVINO_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


def _openvino_model(path: Path):
    import openvino as ov

    path = Path(path)
    core = ov.Core()
    try:
        return core, core.read_model(str(path), str(path.with_suffix(".bin")))
    except RuntimeError as exc:
        raise ValueError(f"{path}: not a readable OpenVINO IR ({_last_line(exc)})") from None


def _last_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else type(exc).__name__


def load_openvino(path: Path, spec: ModelSpec) -> Predict:
    core, model = _openvino_model(path)
    compiled = core.compile_model(model, "CPU", OPENVINO_CONFIG)
    request = compiled.create_infer_request()
    outputs = {name: compiled.output(name) for name in spec.output_names}

    def predict(x: Mapping[str, np.ndarray]) -> Arrays:
        result = request.infer({n: np.ascontiguousarray(x[n]) for n in spec.input_names})
        return {name: np.array(result[port]) for name, port in outputs.items()}
    return predict


def signature_openvino(path: Path, spec: ModelSpec) -> dict[str, Any]:
    _, model = _openvino_model(path)

    def describe(port) -> dict[str, Any]:
        shape = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
        return _spec(port.get_any_name(), shape, port.get_element_type().to_dtype().name)
    return {"inputs": [describe(p) for p in model.inputs], "outputs": [describe(p) for p in model.outputs],
            "device": "CPU", "config": OPENVINO_CONFIG}


# --- ExecuTorch runtime (its Python bindings: the C++ runtime with the XNNPACK and portable kernels) ----------
def _executorch_program(path: Path):
    from executorch.runtime import Runtime as EtRuntime

    try:
        return EtRuntime.get().load_program(Path(path))
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"{path}: not a loadable ExecuTorch program ({_last_line(exc)})") from None


def load_executorch(path: Path, spec: ModelSpec) -> Predict:
    """`forward(*inputs in spec order)`, in chunks of the batch the program's memory was planned for (its
    metadata's input size; the lowering may plan fewer rows than the export's bound)."""
    import torch

    program = _executorch_program(path)
    rows = int(program.metadata("forward").input_tensor_meta(0).sizes()[0])
    method = program.load_method("forward")

    def predict(x: Mapping[str, np.ndarray]) -> Arrays:
        n = batch_size(x)
        parts = []
        for i in range(0, n, rows):
            chunk = slice_batch(x, i, i + rows)
            out = method.execute([torch.from_numpy(np.ascontiguousarray(chunk[t])) for t in spec.input_names])
            parts.append([t.numpy().copy() for t in out])
        return {name: np.concatenate([p[k] for p in parts]) for k, name in enumerate(spec.output_names)}
    return predict


def signature_executorch(path: Path, spec: ModelSpec) -> dict[str, Any]:
    """Shapes as the program's method metadata holds them: the planned (largest) batch in front."""
    meta = _executorch_program(path).metadata("forward")

    def describe(t, tensor_meta) -> dict[str, Any]:
        return _spec(t.name, [None, *list(tensor_meta.sizes())[1:]], t.dtype.name)
    return {"method": "forward", "planned_batch": int(meta.input_tensor_meta(0).sizes()[0]),
            "inputs": [describe(t, meta.input_tensor_meta(i)) for i, t in enumerate(spec.inputs)],
            "outputs": [describe(t, meta.output_tensor_meta(i)) for i, t in enumerate(spec.outputs)],
            "note": "positional forward(*inputs) in spec order"}


# --- TF.js, in Node with the real @tensorflow/tfjs package ---------------------------------------------------
TFJS_BACKEND = "wasm"  # what a browser without WebGL runs; 15x faster than the pure-JS "cpu" backend here
TFJS_FALLBACK = "cpu"  # pure JS: every TF.js kernel exists there
# The wasm backend fuses fewer activations than the converter emits (e.g. MobileNetV3's hard-swish:
# "_fusedhardswish activation not yet supported"); such a model still runs in browsers, on the cpu backend.
WASM_UNSUPPORTED = ("not yet supported", "only supports", "is not implemented", "not registered")


def tfjs_dtype(dtype: np.dtype) -> str:
    """TF.js tensors are float32, int32 or bool: the converter maps TF's other types to these."""
    return "float32" if dtype.kind == "f" else "bool" if dtype.kind == "b" else "int32"


def write_tfjs_job(directory: Path, spec: ModelSpec, inputs: Mapping[str, np.ndarray], chunk: int = CHUNK) -> Path:
    """The job file js/tfjs_model.mjs reads: each input as raw little-endian rows, and where outputs go."""
    job = {"count": batch_size(inputs), "chunk": chunk, "inputs": [], "outputs": []}
    for t in spec.inputs:
        dtype = tfjs_dtype(t.dtype)
        path = directory / f"in-{len(job['inputs'])}.bin"
        np.ascontiguousarray(inputs[t.name], dtype="u1" if dtype == "bool" else f"<{dtype[0]}4").tofile(path)
        job["inputs"].append({"name": t.name, "dtype": dtype, "shape": list(inputs[t.name].shape[1:]),
                              "file": str(path)})
    for i, t in enumerate(spec.outputs):
        job["outputs"].append({"name": t.name, "file": str(directory / f"out-{i}.bin")})
    path = directory / "job.json"
    path.write_text(json.dumps(job))
    return path


def run_tfjs(path: Path, spec: ModelSpec, inputs: Mapping[str, np.ndarray], backend: str = TFJS_BACKEND) -> Outputs:
    """The graph model in @tensorflow/tfjs in Node, on the wasm backend, or on the cpu backend (recorded in the
    outputs' notes) when wasm lacks one of the model's kernels."""
    try:
        return Outputs(_run_tfjs_backend(path, spec, inputs, backend), {"backend": backend})
    except RuntimeError as exc:
        if backend == TFJS_FALLBACK or not any(s in str(exc) for s in WASM_UNSUPPORTED):
            raise
        return Outputs(_run_tfjs_backend(path, spec, inputs, TFJS_FALLBACK),
                       {"backend": TFJS_FALLBACK, "fallback_reason": f"{backend}: {str(exc)[-300:]}"})


def _run_tfjs_backend(path: Path, spec: ModelSpec, inputs: Mapping[str, np.ndarray], backend: str) -> Arrays:
    """Runs js/tfjs_predict.mjs: the graph model loaded by @tensorflow/tfjs in Node."""
    numpy_dtypes = {"float32": "<f4", "int32": "<i4", "bool": "u1"}
    with tempfile.TemporaryDirectory() as tmp:
        job = write_tfjs_job(Path(tmp), spec, inputs)
        runners = js_dir()
        proc = subprocess.run(["node", str(runners / "tfjs_predict.mjs"), str(Path(path).resolve()), str(job),
                               backend], capture_output=True, text=True, timeout=600, cwd=runners)
        if proc.returncode != 0:
            raise RuntimeError(f"TF.js in Node failed: {proc.stderr.strip()[-2000:]}")
        shapes = json.loads(proc.stdout)
        n = batch_size(inputs)
        return {t.name: np.fromfile(Path(tmp) / f"out-{i}.bin", dtype=numpy_dtypes[shapes[t.name]["dtype"]])
                .reshape(n, *shapes[t.name]["shape"]) for i, t in enumerate(spec.outputs)}


def signature_tfjs(path: Path, spec: ModelSpec) -> dict[str, Any]:
    model = json.loads(Path(path).read_text())
    sig = model.get("signature") or model.get("userDefinedMetadata", {}).get("signature", {})

    def describe(entries: dict):
        return [_spec(k.split(":")[0], [int(d["size"]) for d in v["tensorShape"]["dim"]],
                      v["dtype"].replace("DT_", "").lower()) for k, v in entries.items()]
    return {"format": model.get("format"), "inputs": describe(sig.get("inputs", {})),
            "outputs": describe(sig.get("outputs", {}))}


# One runtime serves every format of its file type: every TFLite variant runs in LiteRT with its default delegate
# (and records what the delegate took), every ONNX variant in ONNX Runtime.
LITERT = Runtime("litert", "ai-edge-litert", load_tflite, signature_tflite, batch_run=run_tflite)
ONNX_RUNTIME = Runtime("onnxruntime", "onnxruntime", load_onnx, signature_onnx)
RUNTIMES: dict[str, Runtime] = {
    "savedmodel": Runtime("tensorflow", "tensorflow", load_savedmodel, signature_savedmodel),
    "savedmodel-xla": Runtime("tensorflow", "tensorflow", load_savedmodel, signature_savedmodel),
    "tflite-fp32": LITERT,
    "tflite-int8": LITERT,
    "tflite-int16x8": LITERT,
    "tflite-dynamic-int8": LITERT,
    "tfjs": Runtime(f"tfjs-node-{TFJS_BACKEND}", "node:@tensorflow/tfjs", None, signature_tfjs, batch_run=run_tfjs),
    "onnx": ONNX_RUNTIME,
    "torchscript": Runtime("torchscript", "torch", load_torchscript, signature_torchscript),
    "pt2": Runtime("torch.export", "torch", load_pt2, signature_pt2),
    "tflite-fp16": LITERT,
    "onnx-fp16": ONNX_RUNTIME,
    "onnx-int8": ONNX_RUNTIME,
    "openvino": Runtime("openvino-cpu", "openvino", load_openvino, signature_openvino),
    "executorch": Runtime("executorch-xnnpack", "executorch", load_executorch, signature_executorch),
}
