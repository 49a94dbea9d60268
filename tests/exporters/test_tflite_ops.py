"""The TFLite op histogram, and the claim it supports: the lanes' TFLite files of one model run the same ops."""
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from rosetta.exporters.tflite_ops import compute_op_histogram, op_histogram


def _tflite(tmp_path: Path, fn, input_shape) -> Path:
    import tensorflow as tf

    concrete = tf.function(fn, input_signature=[tf.TensorSpec(input_shape, tf.float32)]).get_concrete_function()
    path = tmp_path / "model.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert())
    return path


def _flatten_dense_softmax(kernel: np.ndarray):
    import tensorflow as tf

    def fn(x):
        flat = tf.reshape(x, tf.stack([tf.shape(x)[0], -1]))  # a runtime batch size, as Keras' Flatten builds it
        return tf.nn.softmax(tf.matmul(flat, kernel))
    return fn


def test_histogram_matches_what_the_interpreter_loads(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    path = _tflite(tmp_path, _flatten_dense_softmax(np.ones((12, 5), np.float32)), [None, 3, 4])
    loaded = Counter(op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details())
    assert op_histogram(path) == dict(loaded)
    assert op_histogram(path)["FULLY_CONNECTED"] == 1 and op_histogram(path)["SOFTMAX"] == 1


def test_compute_histogram_leaves_out_layout_and_shape_arithmetic(tmp_path):
    path = _tflite(tmp_path, _flatten_dense_softmax(np.ones((12, 5), np.float32)), [None, 3, 4])
    full = op_histogram(path)
    assert {"SHAPE", "RESHAPE"} <= set(full)  # the runtime batch size is really computed in the file
    assert compute_op_histogram(path) == {"FULLY_CONNECTED": 1, "SOFTMAX": 1}


def test_float_arithmetic_always_counts(tmp_path):
    """Ops on float tensors are compute, never plumbing, even elementwise ones a fused kernel could absorb."""
    import tensorflow as tf

    ops = compute_op_histogram(_tflite(tmp_path, lambda x: tf.maximum(x, 0.5) + tf.exp(x), [None, 10]))
    assert ops == {"ADD": 1, "EXP": 1, "MAXIMUM": 1}


def test_rejects_a_file_that_is_not_tflite(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07not a flatbuffer")
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        op_histogram(path)


# --- end to end: the lanes' artifacts ------------------------------------------------------------------------
def _tflite_entries(artifacts_dir: Path) -> dict[tuple[str, str], dict[str, dict]]:
    """(model, format) -> lane -> entry, for every validated TFLite artifact in the manifest."""
    entries = json.loads((artifacts_dir / "manifest.json").read_text())["artifacts"]
    groups: dict[tuple[str, str], dict[str, dict]] = defaultdict(dict)
    for e in entries:
        if e["status"] == "ok" and e["format"].startswith("tflite"):
            model = e.get("model_name", "").removesuffix(f"-{e['lane']}")  # "mnist-mlp-torch" -> "mnist-mlp"
            groups[(model, e["format"])][e["lane"]] = e
    return groups


def _compute_ops(artifacts_dir: Path, entry: dict) -> dict[str, int]:
    """The file's compute ops; the (de)quantize pair around a layer its quantization search kept float (recorded
    in the entry) is that record's, not a lane difference."""
    ops = compute_op_histogram(artifacts_dir / entry["path"])
    record = entry.get("converter", {}).get("notes", {}).get(entry["format"], {}).get("quantization", {})
    if record.get("float_layers"):
        ops = {op: n for op, n in ops.items() if op not in ("QUANTIZE", "DEQUANTIZE")}
    return ops


def test_lanes_tflite_compute_the_same_ops(artifacts_dir):
    """Same model, same format: every lane's file runs the same compute ops; only layout ops and shape
    arithmetic (how a converter spells a dynamic batch) may differ. A decomposed softmax, an unfused bias add
    or a materialised broadcast in one lane fails this."""
    groups = {k: v for k, v in _tflite_entries(artifacts_dir).items() if len(v) > 1}
    if not groups:
        pytest.skip("no TFLite artifact exported by more than one lane in this manifest")
    differing = {}
    for (model, fmt), lanes in groups.items():
        histograms = {lane: _compute_ops(artifacts_dir, entry) for lane, entry in lanes.items()}
        if len({json.dumps(h, sort_keys=True) for h in histograms.values()}) > 1:
            differing[f"{model or 'model'} {fmt}"] = histograms
    assert not differing, f"lanes' TFLite compute ops differ: {differing}"
