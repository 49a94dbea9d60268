"""Load SavedModels the way TF Serving does (tag `serve`, signature `serving_default`) in the TensorFlow release
the serving image is built on, run validation inputs and compare with the source model's outputs.

Runs under the side virtualenv's python (`make tfserving-venv`), which has only tensorflow-cpu: this file imports
nothing but TensorFlow, NumPy and the standard library, never the project.

    python savedmodel_check.py JOBS.json > REPORT.json

JOBS.json: [{"name": ..., "savedmodel": DIR (the version directory, .../<name>/1),
             "inputs": NPZ (one array per signature input name), "expected": NPZ (one array per output name),
             "classifier_outputs": [output names whose argmax is the prediction]}, ...]
REPORT.json: {"tensorflow": version, "models": {name: {"loaded": bool, "error"?: str, "ops": [op types],
              "seconds": {"load", "predict"}, "outputs": {name: {"max_abs_diff", "argmax_agreement" | null, "shape"}}}}}
Every model is reported, loaded or not: the caller decides what passes.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

TAG = "serve"
SIGNATURE = "serving_default"
BATCH = 500  # rows per call: bounded memory for any model, like a client that splits its requests


def graph_ops(savedmodel: Path) -> list[str]:
    """Every op type in the SavedModel's `serve` graph and its function library (XlaCallModule hides there)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((savedmodel / "saved_model.pb").read_bytes())
    ops = set()
    for meta in proto.meta_graphs:
        if TAG not in meta.meta_info_def.tags:
            continue
        ops |= {node.op for node in meta.graph_def.node}
        for function in meta.graph_def.library.function:
            ops |= {node.op for node in function.node_def}
    return sorted(ops)


def run_signature(savedmodel: Path, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """The signature's outputs on `inputs`, and the seconds spent loading and predicting."""
    import tensorflow as tf

    began = time.perf_counter()
    loaded = tf.saved_model.load(str(savedmodel), tags=[TAG])
    fn = loaded.signatures[SIGNATURE]
    _, expected_inputs = fn.structured_input_signature
    missing = set(expected_inputs) - set(inputs)
    if missing:
        raise ValueError(f"signature {SIGNATURE} takes {sorted(expected_inputs)}; inputs lack {sorted(missing)}")
    loaded_at = time.perf_counter()
    rows = len(next(iter(inputs.values())))
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, rows, BATCH):
        batch = {k: tf.constant(inputs[k][start:start + BATCH], dtype=spec.dtype)
                 for k, spec in expected_inputs.items()}
        for name, value in fn(**batch).items():
            parts.setdefault(name, []).append(value.numpy())
    outputs = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    return outputs, {"load": loaded_at - began, "predict": time.perf_counter() - loaded_at}


def compare(served: dict[str, np.ndarray], expected: dict[str, np.ndarray],
            classifier_outputs: list[str]) -> dict[str, dict]:
    report = {}
    for name, want in expected.items():
        if name not in served:
            report[name] = {"error": f"signature returns {sorted(served)}, not {name!r}"}
            continue
        got = served[name]
        if got.shape != want.shape:
            report[name] = {"error": f"shape {list(got.shape)} != source {list(want.shape)}"}
            continue
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        agreement = None
        if name in classifier_outputs:
            agreement = float((got.argmax(-1) == want.argmax(-1)).mean())
        report[name] = {"max_abs_diff": float(diff.max()) if diff.size else 0.0,
                        "argmax_agreement": agreement, "shape": list(got.shape)}
    return report


def check(job: dict) -> dict:
    savedmodel = Path(job["savedmodel"])
    result: dict = {"loaded": False}
    try:
        result["ops"] = graph_ops(savedmodel)
        with np.load(job["inputs"]) as f:
            inputs = {k: f[k] for k in f.files}
        rows = len(next(iter(inputs.values())))
        with np.load(job["expected"]) as f:  # the inputs may be the first rows of the validation set
            expected = {k: f[k][:rows] for k in f.files}
        served, result["seconds"] = run_signature(savedmodel, inputs)
        result["loaded"] = True
        result["outputs"] = compare(served, expected, job.get("classifier_outputs", []))
    except Exception as e:  # noqa: BLE001 -- any failure to load or run is the finding to report
        result["error"] = f"{type(e).__name__}: {e}"
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    import tensorflow as tf

    jobs = json.loads(Path(argv[0]).read_text())
    report = {"tensorflow": tf.__version__, "models": {job["name"]: check(job) for job in jobs}}
    json.dump(report, sys.stdout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
