"""Quantized TFLite that runs where a phone runs it: full int8, int16x8 and dynamic-range int8.

Full int8 is calibrated once (batched representative rows; weights per channel) and quantized from that
calibrated float model, so keeping a layer in float is a cheap re-quantization, not a new calibration. Every
candidate is checked in LiteRT with its default delegate (XNNPACK, what a phone's CPU runs), at batch 1 and at
CHECK_BATCH after a resize, and scored on the calibration rows against the calibrated float model.

When XNNPACK refuses the int8 model or it misses the search target, a selective search runs in a child process
(a converter or delegate crash must not take the export with it):
  1. XNNPACK blockers: bisection over a float prefix of the layers finds the first layer whose quantization makes
     the delegate fail; it stays float, and again until the model runs (or even all-float fails: the cell fails
     with the delegate's message);
  2. accuracy: each quantized layer is ranked by the SQNR it loses (its output against its inputs, both against the
     float model, in LiteRT); the worst are kept float, greedily, until the target is met;
  3. capped at MAX_CONVERSIONS re-quantizations and MAX_SECONDS; the best runnable candidate is published and the
     pipeline's gate (on held-out rows) decides. A model left with no quantized layer is never an int8 result.

    python -m rosetta.exporters.tflite_quantization JOB_DIR     (the search child; JOB_DIR written by _search)
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rosetta.core.spec import ModelSpec
from rosetta.exporters import gates
from rosetta.exporters.base import Unsupported
from rosetta.exporters.context import ExportContext

CALIBRATION_BATCH = 32  # rows per representative-dataset sample (the last batch is padded with earlier rows)
CHECK_BATCH = 16  # the delegate must also prepare the model at this batch, after resize_tensor_input
MAX_CONVERSIONS = 80
MAX_SECONDS = 300.0
SEARCH_TIMEOUT_S = 900
# The search aims above the gate, since the gate is applied later on rows the search never saw.
AGREEMENT_MARGIN = 0.005
NRMSE_MARGIN = 0.8
RANK_ROWS = 64  # rows per per-layer error measurement
WEIGHT_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1, "CONV_3D": 1,
              "CONV_3D_TRANSPOSE": 1}  # op -> index of its weight input
MOVE_OPS = {"QUANTIZE", "DEQUANTIZE"}
Arrays = dict[str, np.ndarray]


class QuantizationError(RuntimeError):
    """The quantized model cannot be published as this cell (the message says why, the delegate's own words)."""


# --- calibration and quantization ----------------------------------------------------------------------------
def representative_batches(spec: ModelSpec, rows: Mapping[str, np.ndarray],
                           batch: int = CALIBRATION_BATCH) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    """Calibration samples of `batch` rows each (the calibrator fixes the shape at its first sample, so the last
    batch is completed with the first rows: min/max statistics are unchanged by a repeated row)."""
    n = len(next(iter(rows.values())))
    batch = max(1, min(batch, n))
    order = np.concatenate([np.arange(n), np.arange((-n) % batch)])

    def gen():
        for i in range(0, len(order), batch):
            yield {t.name: rows[t.name][order[i:i + batch]].astype(t.dtype) for t in spec.inputs}
    return gen


def _converter(savedmodel: Path):
    from rosetta.exporters.tf_edges import tflite_converter  # imports TensorFlow: only where a file is converted

    return tflite_converter(savedmodel)


def calibrate(savedmodel: Path, spec: ModelSpec, rows: Mapping[str, np.ndarray]) -> tuple[bytes, int]:
    """The float model with activation ranges from `rows` (what every int8 candidate is quantized from), and the
    calibration batch used (batched first; one row at a time if the model's batch dimension is fixed)."""
    import tensorflow as tf

    last: Exception | None = None
    for batch in (CALIBRATION_BATCH, 1):
        converter = _converter(savedmodel)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_batches(spec, rows, batch)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
        converter._experimental_calibrate_only = True  # noqa: SLF001 - the documented QuantizationDebugger path
        try:
            return converter.convert(), batch
        except Exception as exc:  # noqa: BLE001 - a fixed batch dimension: retry one row at a time
            last = exc
    raise QuantizationError(f"calibration failed: {last}")


def quantize(calibrated: bytes, float_layers: tuple[str, ...] = ()) -> bytes:
    """Full int8 (int8 inputs and outputs, weights per channel) with `float_layers` (op output tensor names) kept
    in float: the converter's own MLIR quantizer, as TFLiteConverter and the QuantizationDebugger call it."""
    import tensorflow as tf
    from tensorflow.lite.python import convert

    model = convert.mlir_quantize(calibrated, disable_per_channel=False, input_data_type=tf.int8,
                                  output_data_type=tf.int8, denylisted_nodes=list(float_layers) or None)
    return convert.deduplicate_readonly_buffers(model)


# --- what a .tflite holds ------------------------------------------------------------------------------------
def _model(buf: bytes):
    from ai_edge_litert import schema_py_generated as schema

    from rosetta.exporters.tflite_ops import _op_name

    model = schema.Model.GetRootAs(buf, 0)
    return model, [_op_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]


def weight_quantization(buf: bytes) -> dict[str, Any]:
    """How the weights of conv / dense ops are stored, read from the flatbuffer: per channel (one scale per
    output channel), per tensor (one scale), or float."""
    from ai_edge_litert import schema_py_generated as schema

    model, names = _model(buf)
    counts = {"per_channel": 0, "per_tensor": 0, "float": 0}
    for s in range(model.SubgraphsLength()):
        sub = model.Subgraphs(s)
        for i in range(sub.OperatorsLength()):
            op = sub.Operators(i)
            name = names[op.OpcodeIndex()]
            if name not in WEIGHT_OPS or op.InputsLength() <= WEIGHT_OPS[name]:
                continue
            weight = sub.Tensors(op.Inputs(WEIGHT_OPS[name]))
            q = weight.Quantization()
            scales = q.ScaleLength() if q is not None else 0
            kind = ("float" if weight.Type() in (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16)
                    else "per_channel" if scales > 1 else "per_tensor")
            counts[kind] += 1
    return {"per_channel": counts["per_channel"] > 0 and counts["per_tensor"] == 0, "weights": counts}


def op_precisions(buf: bytes) -> dict[str, list[str]]:
    """Compute ops by the precision of their output: 'quantized' (integer) or 'float' (QUANTIZE/DEQUANTIZE and
    ops whose outputs are all int32/int64 shape values left out). Keys are op output tensor names."""
    from ai_edge_litert import schema_py_generated as schema

    model, names = _model(buf)
    floats = (schema.TensorType.FLOAT32, schema.TensorType.FLOAT16)
    ints = (schema.TensorType.INT8, schema.TensorType.INT16, schema.TensorType.UINT8)
    out: dict[str, list[str]] = {"quantized": [], "float": []}
    for s in range(model.SubgraphsLength()):
        sub = model.Subgraphs(s)
        for i in range(sub.OperatorsLength()):
            op = sub.Operators(i)
            if names[op.OpcodeIndex()] in MOVE_OPS or op.OutputsLength() == 0:
                continue
            t = sub.Tensors(op.Outputs(0))
            name = (t.Name() or b"").decode()
            if t.Type() in floats:
                out["float"].append(name)
            elif t.Type() in ints:
                out["quantized"].append(name)
    return out


# --- LiteRT checks -------------------------------------------------------------------------------------------
def _rows(rows: Mapping[str, np.ndarray], n: int) -> Arrays:
    return {k: v[:n] for k, v in rows.items()}


def delegate_check(buf: bytes, spec: ModelSpec, rows: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Load in LiteRT with its default delegate, allocate and invoke at batch 1 and at CHECK_BATCH after
    resize_tensor_input. {"error": the runtime's message} or {"delegated_nodes", "latency_ms_batch1"}."""
    from rosetta.exporters.runtimes import delegated_nodes, load_tflite_bytes

    try:
        predict, interpreter = load_tflite_bytes(buf, spec)
        predict(_rows(rows, 1))
        times = []
        for _ in range(10):
            start = time.perf_counter()
            predict(_rows(rows, 1))
            times.append(time.perf_counter() - start)
        predict(_rows(rows, CHECK_BATCH))
    except Exception as exc:  # noqa: BLE001 - the runtime's refusal is the result
        return {"error": f"LiteRT (default delegate) refused the model: {str(exc).strip()[:400]}"}
    return {"delegated_nodes": delegated_nodes(interpreter), "latency_ms_batch1": round(1e3 * float(np.median(times)), 3)}


def run_bytes(buf: bytes, spec: ModelSpec, rows: Mapping[str, np.ndarray]) -> Arrays:
    from rosetta.exporters.runtimes import CHUNK, load_tflite_bytes

    predict, _ = load_tflite_bytes(buf, spec)
    n = len(next(iter(rows.values())))
    parts = [predict({k: v[i:i + CHUNK] for k, v in rows.items()}) for i in range(0, n, CHUNK)]
    return {name: np.concatenate([p[name] for p in parts]) for name in spec.output_names}


def score(fmt: str, outputs: Arrays, reference: Arrays, spec: ModelSpec,
          ceiling: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The format's gate on these rows, plus the search target (the gate with a margin, but no more than what
    `ceiling`, the model with every layer float and only its int8 inputs/outputs, reaches) and the output SQNR."""
    parity = gates.parity(fmt, outputs, reference, spec)
    ceiling = ceiling or {}
    target = parity.passed
    for name, check in parity.gate.items():
        if name == "argmax_agreement":
            target &= check["value"] >= min(1.0, check["limit"] + AGREEMENT_MARGIN, ceiling.get(name, 1.0))
        elif name.startswith("nrmse"):
            target &= check["value"] <= max(check["limit"] * NRMSE_MARGIN, ceiling.get(name, 0.0))
    return {"gate_passed": parity.passed, "target_met": bool(target), "argmax_agreement": parity.argmax_agreement,
            "sqnr_db": round(min(gates.sqnr_db(outputs[n], reference[n]) for n in spec.output_names), 3),
            "failures": parity.failures, "gate": {k: v["value"] for k, v in parity.gate.items()}}


# --- per-layer error ---------------------------------------------------------------------------------------
def _channel_sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    """Mean over the last axis' channels of each channel's SQNR (dB, clipped): a per-tensor scale set by one
    huge channel crushes the others, which a whole-tensor SQNR (dominated by that channel) would not show."""
    ref = np.asarray(ref, np.float64).reshape(-1, ref.shape[-1] if ref.ndim else 1)
    noise = np.asarray(got, np.float64).reshape(ref.shape) - ref
    signal, err = (ref ** 2).sum(0), (noise ** 2).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = np.where(err > 0, 10 * np.log10(np.maximum(signal, 1e-30) / np.maximum(err, 1e-30)), 80.0)
    return float(np.clip(db, -20.0, 80.0).mean())


def _tensors(buf: bytes, spec: ModelSpec, rows: Arrays) -> tuple[dict[str, np.ndarray], list[dict], Any]:
    """Every tensor's value (dequantized) after one invoke without delegates (they hide intermediates)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from rosetta.exporters.runtimes import SIGNATURE, quantize_input

    it = Interpreter(model_content=buf, experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    inputs = it.get_signature_runner(SIGNATURE).get_input_details()
    it.allocate_tensors()
    for name, d in inputs.items():
        it.resize_tensor_input(d["index"], rows[name].shape)
    it.allocate_tensors()
    for name, d in inputs.items():
        it.set_tensor(d["index"], quantize_input(rows[name], d))
    it.invoke()
    values = {}
    for d in it.get_tensor_details():
        try:
            v = it.get_tensor(d["index"])
        except ValueError:
            continue
        scale, zp = d["quantization"]
        if scale and np.issubdtype(v.dtype, np.integer):
            v = (v.astype(np.float32) - zp) * scale
        elif v.dtype.kind != "f":
            continue
        values[d["name"]] = v
    return values, it._get_ops_details(), it  # noqa: SLF001


def layer_losses(calibrated: bytes, candidate: bytes, spec: ModelSpec, rows: Arrays) -> dict[str, float]:
    """Quantized layer (output tensor name) -> the SQNR (dB) it loses: its inputs' SQNR minus its output's, each
    against the calibrated float model on the same rows. A layer's input that a QUANTIZE op made from a float
    tensor is measured before that QUANTIZE, so the re-quantization is charged to the layer that needs it."""
    ref, _, _ = _tensors(calibrated, spec, rows)
    got, ops, it = _tensors(candidate, spec, rows)
    details = {d["index"]: d for d in it.get_tensor_details()}
    produced_by = {int(o): op for op in ops for o in op["outputs"]}
    ints = (np.int8, np.int16, np.uint8)
    graph_inputs = {d["index"] for d in it.get_input_details()}

    def name_of(idx: int) -> str:
        return details[idx]["name"]

    def quality(idx: int) -> float | None:
        op = produced_by.get(idx)
        if op is not None and op["op_name"] == "QUANTIZE":
            idx = int(op["inputs"][0])
        name = name_of(idx)
        if name in ref and name in got and ref[name].shape == got[name].shape:
            return _channel_sqnr(ref[name], got[name])
        return None

    losses = {}
    for op in ops:
        if op["op_name"] in MOVE_OPS or not len(op["outputs"]):
            continue
        out = int(op["outputs"][0])
        if details[out]["dtype"] not in ints or name_of(out) not in ref:
            continue
        q_out = quality(out)
        activations = [int(i) for i in op["inputs"] if i >= 0 and (int(i) in produced_by or int(i) in graph_inputs)]
        q_in = [q for q in map(quality, activations) if q is not None]
        if q_out is not None:
            losses[name_of(out)] = (min(q_in) if q_in else 80.0) - q_out
    return losses


# --- the selective search ------------------------------------------------------------------------------------
@dataclass
class Search:
    calibrated: bytes
    spec: ModelSpec
    rows: Arrays
    fmt: str = "tflite-int8"
    max_conversions: int = MAX_CONVERSIONS
    max_seconds: float = MAX_SECONDS
    conversions: int = 0
    start: float = field(default_factory=time.perf_counter)
    reference: Arrays = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reference = run_bytes(self.calibrated, self.spec, self.rows)
        self.layers = op_precisions(quantize(self.calibrated))["quantized"]  # every layer int8 can hold
        self.ceiling: dict[str, float] = {}

    @property
    def exhausted(self) -> bool:
        return self.conversions >= self.max_conversions or time.perf_counter() - self.start >= self.max_seconds

    def candidate(self, float_layers: tuple[str, ...]) -> dict[str, Any]:
        self.conversions += 1
        buf = quantize(self.calibrated, float_layers)
        result: dict[str, Any] = {"float_layers": float_layers, "model": buf, **delegate_check(buf, self.spec,
                                                                                              self.rows)}
        if "error" not in result:
            result.update(score(self.fmt, run_bytes(buf, self.spec, self.rows), self.reference, self.spec,
                                self.ceiling))
        return result

    def unblock(self, floats: tuple[str, ...], first_error: str) -> tuple[str, ...]:
        """Layers to keep float until the default delegate runs the model (bisection over a float prefix)."""
        everything = self.candidate(tuple(dict.fromkeys((*floats, *self.layers))))
        if "error" in everything:
            raise QuantizationError(f"{first_error} (the model keeping every layer float is refused too: "
                                    f"{everything['error']})")
        while not self.exhausted:
            lo, hi = 0, len(self.layers)  # floats + layers[:lo] fails, floats + layers[:hi] runs
            while hi - lo > 1 and not self.exhausted:
                mid = (lo + hi) // 2
                runs = "error" not in self.candidate(tuple(dict.fromkeys((*floats, *self.layers[:mid]))))
                lo, hi = (lo, mid) if runs else (mid, hi)
            floats = tuple(dict.fromkeys((*floats, self.layers[hi - 1])))
            self.log.append(f"delegate blocker kept float: {self.layers[hi - 1]}")
            if "error" not in self.candidate(floats):
                return floats
        raise QuantizationError(f"{first_error} (search budget spent finding the layers that block it)")

    def run(self, first: dict[str, Any]) -> dict[str, Any]:
        everything = self.candidate(tuple(self.layers))  # what int8 inputs and outputs alone allow
        self.ceiling = everything.get("gate", {})
        floats: tuple[str, ...] = ()
        current = self.candidate(()) if "error" not in first else first
        if "error" in current:
            floats = self.unblock(floats, current["error"])
            current = self.candidate(floats)
        best = current
        added = 0
        while not current.get("target_met") and not self.exhausted:
            losses = layer_losses(self.calibrated, current["model"], self.spec, _rows(self.rows, RANK_ROWS))
            ranked = [k for k, _ in sorted(losses.items(), key=lambda kv: -kv[1]) if k not in floats]
            if not ranked:
                break
            step = 1 if added < 4 else min(2 ** (added - 3), 8)  # one at a time first, then faster
            added += 1
            floats = tuple(dict.fromkeys((*floats, *ranked[:step])))
            self.log.append(f"kept float for accuracy: {', '.join(ranked[:step])}")
            current = self.candidate(floats)
            if "error" in current:
                floats = self.unblock(floats, current["error"])
                current = self.candidate(floats)
            if _better(current, best):
                best = current
        return self.prune(best) if best.get("target_met") else best

    def prune(self, best: dict[str, Any]) -> dict[str, Any]:
        """Drop float layers the target does not need (a layer ranked first may only have mattered together
        with one found later), latest first."""
        for layer in reversed(best["float_layers"]):
            if self.exhausted:
                break
            trial = self.candidate(tuple(f for f in best["float_layers"] if f != layer))
            if "error" not in trial and trial.get("target_met"):
                self.log.append(f"quantized again (not needed): {layer}")
                best = trial
        return best


def _better(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def key(c):
        return (c.get("target_met", False), c.get("gate_passed", False), c.get("argmax_agreement") or 0.0,
                c.get("sqnr_db", -math.inf), -len(c["float_layers"]))
    return "error" not in a and ("error" in b or key(a) > key(b))


# --- the edges -----------------------------------------------------------------------------------------------
def _finish(buf: bytes, dst: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write the artifact with its record; a model with nothing quantized fails (it is a float model)."""
    precisions = op_precisions(buf)
    record.update(weight_quantization(buf))
    record["quantized_ops"], record["float_ops"] = len(precisions["quantized"]), len(precisions["float"])
    weights = record["weights"]["per_channel"] + record["weights"]["per_tensor"]
    if record["mode"] == "dynamic-int8" and not weights:
        # the converter quantizes only weight tensors of 1024+ elements: a small model comes back all float
        raise Unsupported("dynamic-range int8 quantizes weight tensors of 1024 or more elements; this model has "
                          "none, so the file would be float32")
    if not precisions["quantized"] and record["mode"] != "dynamic-int8":
        raise QuantizationError(f"{record['mode']}: no layer is left quantized (every layer float); an all-float "
                                "model is not a quantized artifact")
    dst.write_bytes(buf)
    return {"quantization": record}


def savedmodel_to_tflite_int8(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any]:
    """Full-integer int8, weights per channel; layers kept float by the search when XNNPACK or the gate needs it."""
    start = time.perf_counter()
    rows = {t.name: ctx.calibration[t.name] for t in ctx.spec.inputs}
    calibrated, batch = calibrate(src, ctx.spec, rows)
    record: dict[str, Any] = {"mode": "full-int8", "calibration_rows": len(next(iter(rows.values()))),
                              "calibration_batch": batch, "io": "int8"}
    search = Search(calibrated, ctx.spec, rows)
    first = search.candidate(())
    best = first
    if "error" in first or not first.get("target_met"):
        record["search"] = {"reason": first.get("error") or "; ".join(first.get("failures") or [])
                            or f"below the search target (argmax agreement {first.get('argmax_agreement')})"}
        best = _search_in_child(calibrated, ctx.spec, rows, first, record)
    record.update({"float_layers": list(best["float_layers"]), "conversions": search.conversions +
                   record.get("search", {}).get("conversions", 0),
                   "objective": {k: best.get(k) for k in ("argmax_agreement", "sqnr_db", "gate_passed",
                                                           "target_met")},
                   "objective_rows": record["calibration_rows"],
                   "delegate": {"runs": True, "nodes": best["delegated_nodes"], "batches": [1, CHECK_BATCH]},
                   "latency_ms_batch1": best["latency_ms_batch1"]})
    record["seconds"] = round(time.perf_counter() - start, 2)
    return _finish(best["model"], dst, record)


def _search_in_child(calibrated: bytes, spec: ModelSpec, rows: Arrays, first: dict[str, Any],
                     record: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rosetta-int8-search-") as tmp:
        job = Path(tmp)
        (job / "calibrated.tflite").write_bytes(calibrated)
        np.savez(job / "rows.npz", **rows)
        (job / "job.json").write_text(json.dumps({"spec": spec.to_json(), "first_error": first.get("error")}))
        done = subprocess.run([sys.executable, "-m", "rosetta.exporters.tflite_quantization", str(job)],
                              capture_output=True, text=True, timeout=SEARCH_TIMEOUT_S)
        result_path = job / "result.json"
        if done.returncode != 0 or not result_path.is_file():
            sys.stderr.write(done.stderr)  # the whole traceback to the log; the cell's error is its exception line
            errors = [ln for ln in done.stderr.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", ln)]
            raise QuantizationError(f"int8 search (child process) exited {done.returncode}: "
                                    f"{errors[-1] if errors else done.stderr.strip()[-300:] or 'no output'}")
        result = json.loads(result_path.read_text())
        record["search"].update(result["search"])
        if result.get("error"):
            raise QuantizationError(result["error"])
        best = result["best"]
        best["model"] = (job / "best.tflite").read_bytes()
        best["float_layers"] = tuple(best["float_layers"])
        return best


def _child(job_dir: Path) -> None:
    job = json.loads((job_dir / "job.json").read_text())
    spec = ModelSpec.from_json(job["spec"])
    with np.load(job_dir / "rows.npz") as data:
        rows = {k: data[k] for k in data.files}
    search = Search((job_dir / "calibrated.tflite").read_bytes(), spec, rows)
    out: dict[str, Any] = {"search": {}}
    try:
        first = search.candidate(())
        best = search.run(first)
        (job_dir / "best.tflite").write_bytes(best["model"])
        out["best"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in best.items() if k != "model"}
    except QuantizationError as exc:
        out["error"] = str(exc)
    out["search"] = {"conversions": search.conversions, "seconds": round(time.perf_counter() - search.start, 2),
                     "steps": search.log, "capped": search.exhausted}
    (job_dir / "result.json").write_text(json.dumps(out, default=float))


def savedmodel_to_tflite_int16x8(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any]:
    """int16 activations, int8 weights; float builtins allowed only when an op lacks a 16x8 kernel (recorded)."""
    import tensorflow as tf

    start = time.perf_counter()
    rows = {t.name: ctx.calibration[t.name] for t in ctx.spec.inputs}
    int16x8 = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    record: dict[str, Any] = {"mode": "int16x8", "calibration_rows": len(next(iter(rows.values()))),
                              "io": "float32", "float_fallback": False, "float_layers": []}
    last: Exception | None = None
    for ops in ([int16x8], [int16x8, tf.lite.OpsSet.TFLITE_BUILTINS]):
        converter = _converter(src)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_batches(ctx.spec, rows)
        converter.target_spec.supported_ops = ops
        try:
            buf = converter.convert()
            break
        except Exception as exc:  # noqa: BLE001 - some op has no 16x8 kernel: allow float builtins for it
            last = exc
    else:
        raise QuantizationError(f"int16x8 conversion failed: {last}")
    if len(ops) > 1:
        record["float_fallback"] = True
        record["float_fallback_reason"] = str(last).strip().splitlines()[-1][:300] if last else ""
        record["float_layers"] = op_precisions(buf)["float"]
    record.update(_check(buf, ctx, rows))
    record["seconds"] = round(time.perf_counter() - start, 2)
    return _finish(buf, dst, record)


def savedmodel_to_tflite_dynamic_int8(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any]:
    """Dynamic-range int8: weights int8, activations quantized on the fly; no calibration rows."""
    import tensorflow as tf

    start = time.perf_counter()
    converter = _converter(src)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    buf = converter.convert()
    rows = {t.name: ctx.calibration[t.name] for t in ctx.spec.inputs}
    record: dict[str, Any] = {"mode": "dynamic-int8", "calibration_rows": 0, "io": "float32", "float_layers": []}
    record.update(_check(buf, ctx, rows))
    record["seconds"] = round(time.perf_counter() - start, 2)
    return _finish(buf, dst, record)


def _check(buf: bytes, ctx: ExportContext, rows: Arrays) -> dict[str, Any]:
    check = delegate_check(buf, ctx.spec, rows)
    if "error" in check:
        raise QuantizationError(check["error"])
    return {"delegate": {"runs": True, "nodes": check["delegated_nodes"], "batches": [1, CHECK_BATCH]},
            "latency_ms_batch1": check["latency_ms_batch1"]}


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
