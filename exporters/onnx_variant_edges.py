"""Edges from the validated ONNX model to its reduced-precision variants, run by the same ONNX Runtime.

- `onnx-fp16`: weights and arithmetic in float16 (onnxconverter-common), float32 graph inputs and outputs
  (keep_io_types), so a caller feeds the same tensors as to `onnx`.
- `onnx-int8`: ONNX Runtime static quantization in QDQ form, int8 weights per output channel and int8
  activations calibrated on the context's calibration rows. A node whose int8 form costs the most accuracy,
  measured on those rows, stays float (`nodes_to_exclude`) until the int8 gate's thresholds hold there.
"""
from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from rosetta.core.spec import ModelSpec
from rosetta.exporters.context import ExportContext

# Ops that keep float inputs in float16: none here; Softmax etc. run in fp16 too, and the gate measures it.
FP16_BLOCK_LIST: tuple[str, ...] = ()
MAX_FLOAT_NODES = 4  # selective quantization stops here: a model needing more float nodes fails its gate
CALIBRATION_CHUNK = 64  # rows per calibration batch fed to ORT's calibrator
SQNR_ROWS = 64  # per-node SQNR keeps every intermediate tensor of these rows in memory


def with_unique_node_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """Name every unnamed or repeated node (`<op>_<index>`): ONNX allows empty names, but the fp16 converter names
    its Casts after nodes (two empty names, one output twice) and selective quantization excludes nodes by name."""
    seen: set[str] = set()
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{index}"
            while node.name in seen:
                node.name += "_"
        seen.add(node.name)
    return model


def onnx_to_fp16(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any]:
    from onnxconverter_common import float16

    model = with_unique_node_names(onnx.load(str(src)))
    converted = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=list(FP16_BLOCK_LIST)
                                                 or None)
    onnx.checker.check_model(converted, full_check=True)
    onnx.save(converted, str(dst))
    return {"conversion": "onnxconverter-common float16, keep_io_types=True (float32 inputs and outputs)"}


class _Rows:
    """ORT's CalibrationDataReader over the calibration rows, in chunks."""

    def __init__(self, spec: ModelSpec, rows: Mapping[str, np.ndarray]) -> None:
        n = len(next(iter(rows.values())))
        self._batches = iter([{t.name: rows[t.name][i:i + CALIBRATION_CHUNK].astype(t.dtype) for t in spec.inputs}
                              for i in range(0, n, CALIBRATION_CHUNK)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def __iter__(self):  # what qdq_loss_debug.collect_activations reads
        return self._batches


def _run(path: Path, spec: ModelSpec, rows: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {t.name: np.asarray(rows[t.name]).astype(t.dtype) for t in spec.inputs}
    return dict(zip(spec.output_names, session.run(spec.output_names, feeds)))


def _quantize(src: Path, dst: Path, ctx: ExportContext, exclude: list[str]) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(str(src), str(dst), _Rows(ctx.spec, ctx.calibration), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=exclude,
                    extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})


def _score(path: Path, ctx: ExportContext, reference: dict[str, np.ndarray]) -> dict[str, float]:
    """The int8 gate's own measures (rosetta.exporters.gates), on the calibration rows."""
    from rosetta.exporters import gates

    out = _run(path, ctx.spec, ctx.calibration)
    p = gates.parity("onnx-int8", out, reference, ctx.spec, thresholds=ctx.thresholds)
    sqnr = min(gates.sqnr_db(out[n], reference[n]) for n in ctx.spec.output_names)
    return {"passed": p.passed, "sqnr_db": round(sqnr, 2),
            "argmax_agreement": p.argmax_agreement if p.argmax_agreement is not None else float("nan")}


def _node_sqnr(src: Path, quantized: Path, ctx: ExportContext) -> dict[str, float]:
    """Per node: SQNR (dB) of its output in the int8 model against the float model, on the calibration rows
    (onnxruntime.quantization.qdq_loss_debug). The lowest is where int8 loses the most."""
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        compute_activation_error,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    rows = {k: v[:SQNR_ROWS] for k, v in ctx.calibration.items()}
    with tempfile.TemporaryDirectory() as tmp:
        float_aug, q_aug = Path(tmp) / "float.onnx", Path(tmp) / "q.onnx"
        modify_model_output_intermediate_tensors(str(src), str(float_aug))
        modify_model_output_intermediate_tensors(str(quantized), str(q_aug))
        float_acts = collect_activations(str(float_aug), _Rows(ctx.spec, rows))
        q_acts = collect_activations(str(q_aug), _Rows(ctx.spec, rows))
    errors = compute_activation_error(create_activation_matching(q_acts, float_acts))
    producers = {o: n.name for n in onnx.load(str(src)).graph.node for o in n.output}
    per_node: dict[str, float] = {}
    for tensor, err in errors.items():
        value = err.get("xmodel_err")
        if tensor in producers and value is not None and np.isfinite(value):
            per_node[producers[tensor]] = round(float(value), 2)
    return per_node


def onnx_to_int8(src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any]:
    """Static QDQ int8; nodes stay float one at a time, worst per-node SQNR first, while the gate fails on the
    calibration rows. Records what was measured and which nodes stayed float."""
    from onnxruntime.quantization import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        onnx.save(with_unique_node_names(onnx.load(str(prepared))), str(prepared))
        reference = _run(prepared, ctx.spec, ctx.calibration)
        exclude: list[str] = []
        trials = []
        while True:
            candidate = Path(tmp) / f"q{len(exclude)}.onnx"
            _quantize(prepared, candidate, ctx, exclude)
            score = _score(candidate, ctx, reference)
            node_sqnr = _node_sqnr(prepared, candidate, ctx)
            trials.append({"float_nodes": list(exclude), **score})
            worst = [n for n, _ in sorted(node_sqnr.items(), key=lambda kv: kv[1]) if n not in exclude]
            if score["passed"] or len(exclude) >= MAX_FLOAT_NODES or not worst:
                break
            exclude.append(worst[0])
        onnx.save(onnx.load(str(candidate)), str(dst))
    return {"quantization": "onnxruntime quantize_static, QDQ, int8 weights per channel (symmetric), int8 "
                            "activations (MinMax on the calibration rows)",
            "calibration_rows": len(next(iter(ctx.calibration.values()))),
            "nodes_to_exclude": exclude, "trials": trials,
            "node_sqnr_db": node_sqnr}  # of the chosen model: each node's output against the float model
