"""A small artifacts dir in manifest v3, built for real: two tiny torch models exported to ONNX (torch.onnx,
dynamo) and, from a tf.function SavedModel with the same weights, to TF.js and TFLite fp32 / int8.

- "tiny-classifier": `pixels` FP32 [-1, 8, 8] (NHW) -> `scores` FP32 [-1, 3] probabilities: the drawing demo fits
  (trained on `bands`: the class is which rows are bright).
- "two-inputs": `a` [-1, 4] and `b` [-1, 2] -> `shifted` [-1, 4] and `logits` [-1, 3]: listed, no demo.

Parity figures are measured here against the torch model on VALIDATION_EXAMPLES random inputs, in ONNX Runtime
and LiteRT; the TF.js entries carry the parity of the SavedModel they were converted from (the Chromium test
checks TF.js itself).
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rosetta.core.digest import describe_files

SEED = 7
VALIDATION_EXAMPLES = 64


@dataclass
class FixtureModel:
    name: str
    spec: dict[str, Any]
    module: Any  # torch.nn.Module
    tf_fn: Callable[..., dict[str, Any]]  # builds the TF graph from numpy weights
    validation: dict[str, np.ndarray]

    def reference(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            out = self.module(*(torch.from_numpy(inputs[t["name"]]) for t in self.spec["inputs"]))
        out = out if isinstance(out, tuple) else (out,)
        return {t["name"]: o.numpy() for t, o in zip(self.spec["outputs"], out)}


def bands(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """8x8 images whose class is the bright band of rows (top, middle, bottom) over faint noise."""
    labels = np.arange(n) % 3
    images = rng.uniform(0, 0.2, (n, 8, 8)).astype(np.float32)
    for i, label in enumerate(labels):
        rows = slice((0, 3, 5)[label], (3, 6, 8)[label])
        images[i, rows] = rng.uniform(0.6, 1.0, (images[i, rows].shape)).astype(np.float32)
    return images, labels


def tiny_classifier() -> FixtureModel:
    """Trained (a few hundred Adam steps, seeded) so its classes differ: the demo's buttons show all three."""
    import torch

    torch.manual_seed(SEED)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(),
                                 torch.nn.Linear(16, 3), torch.nn.Softmax(dim=-1))
    x, y = bands(512, np.random.default_rng(SEED))
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(200):
        optimizer.zero_grad()
        loss = torch.nn.functional.nll_loss(torch.log(module(torch.from_numpy(x)) + 1e-9), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
    module.eval()
    w1, b1, w2, b2 = (p.detach().numpy().copy() for p in module.parameters())

    def tf_fn(tf):
        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8], tf.float32, name="pixels")], autograph=False)
        def serve(pixels):
            h = tf.nn.relu(tf.reshape(pixels, [-1, 64]) @ w1.T + b1)
            return {"scores": tf.nn.softmax(h @ w2.T + b2)}
        return serve

    spec = {"name": "tiny-classifier",
            "inputs": [{"name": "pixels", "datatype": "FP32", "shape": [-1, 8, 8], "layout": "NHW"}],
            "outputs": [{"name": "scores", "datatype": "FP32", "shape": [-1, 3], "kind": "probabilities"}]}
    pixels, _ = bands(VALIDATION_EXAMPLES, np.random.default_rng(SEED + 2))
    return FixtureModel("tiny-classifier", spec, module, tf_fn, {"pixels": pixels})


def two_inputs() -> FixtureModel:
    import torch

    class TwoInputs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = torch.nn.Linear(6, 3)

        def forward(self, a, b):
            return a + 1.0, self.dense(torch.cat([a, b], dim=-1))

    torch.manual_seed(SEED + 1)
    module = TwoInputs().eval()
    w, bias = (p.detach().numpy() for p in module.dense.parameters())

    def tf_fn(tf):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="a"),
                                      tf.TensorSpec([None, 2], tf.float32, name="b")], autograph=False)
        def serve(a, b):
            return {"shifted": a + 1.0, "logits": tf.concat([a, b], axis=-1) @ w.T + bias}
        return serve

    spec = {"name": "two-inputs",
            "inputs": [{"name": "a", "datatype": "FP32", "shape": [-1, 4]},
                       {"name": "b", "datatype": "FP32", "shape": [-1, 2]}],
            "outputs": [{"name": "shifted", "datatype": "FP32", "shape": [-1, 4]},
                        {"name": "logits", "datatype": "FP32", "shape": [-1, 3], "kind": "logits"}]}
    rng = np.random.default_rng(SEED + 1)
    return FixtureModel("two-inputs", spec, module, tf_fn,
                        {"a": rng.uniform(-1, 1, (VALIDATION_EXAMPLES, 4)).astype(np.float32),
                         "b": rng.uniform(-1, 1, (VALIDATION_EXAMPLES, 2)).astype(np.float32)})


def _export_onnx(m: FixtureModel, path: Path) -> None:
    import torch

    names = [t["name"] for t in m.spec["inputs"]]
    args = tuple(torch.from_numpy(m.validation[n][:2]) for n in names)
    batch = torch.export.Dim("batch")
    torch.onnx.export(m.module, args, str(path), dynamo=True, input_names=names,
                      output_names=[t["name"] for t in m.spec["outputs"]],
                      dynamic_shapes=tuple({0: batch} for _ in names), external_data=False)


def _export_tf(m: FixtureModel, root: Path) -> dict[str, Path]:
    import tensorflow as tf

    from rosetta.exporters.tfjs_compat import tfjs_converter

    module = tf.Module()
    module.serve = m.tf_fn(tf)
    saved = root / "savedmodel"
    tf.saved_model.save(module, str(saved), signatures={"serving_default": module.serve})
    out = {}
    fp32 = root / "tflite-fp32" / "model.tflite"
    fp32.parent.mkdir(parents=True)
    fp32.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serving_default"]).convert())
    out["tflite-fp32"] = fp32
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serving_default"])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    names = [t["name"] for t in m.spec["inputs"]]
    converter.representative_dataset = lambda: ({n: m.validation[n][i:i + 1] for n in names} for i in range(32))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    int8 = root / "tflite-int8" / "model.tflite"
    int8.parent.mkdir(parents=True)
    int8.write_bytes(converter.convert())
    out["tflite-int8"] = int8
    tfjs_dir = root / "tfjs"
    tfjs_converter().convert_tf_saved_model(str(saved), str(tfjs_dir), signature_def="serving_default",
                                            saved_model_tags="serve")
    out["tfjs"] = tfjs_dir / "model.json"
    shutil.rmtree(saved)
    return out


def _tflite_run(path: Path, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run through the signature runner (names = the spec's), quantizing as the model says; and its signature."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    ins, outs = runner.get_input_details(), runner.get_output_details()

    def quant(d):
        scale, zero = d["quantization"]
        return {"scale": float(scale), "zero_point": int(zero)} if scale else None

    results: dict[str, list[np.ndarray]] = {}
    for i in range(len(next(iter(inputs.values())))):
        feed = {}
        for name, d in ins.items():
            x = inputs[name][i:i + 1]
            if q := quant(d):
                x = np.clip(np.round(x / q["scale"] + q["zero_point"]), -128, 127).astype(np.int8)
            feed[name] = x
        for name, y in runner(**feed).items():
            q = quant(outs[name])
            results.setdefault(name, []).append((y.astype(np.float32) - q["zero_point"]) * q["scale"] if q else y)

    def describe(name, d):
        record = {"name": name, "shape": [None, *map(int, d["shape"][1:])], "dtype": np.dtype(d["dtype"]).name}
        if q := quant(d):
            record["quantization"] = q
        return record
    signature = {"inputs": [describe(n, d) for n, d in ins.items()],
                 "outputs": [describe(n, d) for n, d in outs.items()]}
    return {k: np.concatenate(v) for k, v in results.items()}, signature


def _onnx_run(path: Path, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(names, inputs)))

    def describe(t):
        return {"name": t.name, "shape": [d if isinstance(d, int) else None for d in t.shape], "dtype": "float32"}
    return outputs, {"inputs": [describe(t) for t in session.get_inputs()],
                     "outputs": [describe(t) for t in session.get_outputs()]}


def _tfjs_signature(model_json: Path) -> dict[str, Any]:
    sig = json.loads(model_json.read_text())["signature"]

    def describe(entries):
        return [{"name": k.split(":")[0], "shape": [None if int(d["size"]) < 0 else int(d["size"])
                                                    for d in v["tensorShape"]["dim"]],
                 "dtype": v["dtype"].removeprefix("DT_").lower()} for k, v in entries.items()]
    return {"inputs": describe(sig["inputs"]), "outputs": describe(sig["outputs"])}


def _parity(m: FixtureModel, got: dict[str, np.ndarray], gate: float) -> dict[str, Any]:
    ref = m.reference(m.validation)
    per = {k: float(np.abs(got[k] - ref[k]).max()) for k in ref}
    classifier = next((t["name"] for t in m.spec["outputs"] if t.get("kind")), None)
    agreement = (float((got[classifier].argmax(-1) == ref[classifier].argmax(-1)).mean())
                 if classifier else None)
    return {"examples": VALIDATION_EXAMPLES, "max_abs_diff": max(per.values()), "argmax_agreement": agreement,
            "accuracy": None, "source_accuracy": None, "gate": {"max_abs_diff": gate},
            "passed": max(per.values()) <= gate, "failures": [],
            "outputs": {k: {"max_abs_diff": v} for k, v in per.items()}}


def build(root: Path) -> Path:
    """Write root/manifest.json (schema 3) and root/<model>/1/<format>/... for both fixture models."""
    entries = []
    for m in (tiny_classifier(), two_inputs()):
        model_dir = root / m.name / "1"  # version 1
        onnx_path = model_dir / "onnx" / "model.onnx"
        onnx_path.parent.mkdir(parents=True)
        _export_onnx(m, onnx_path)
        paths = {"onnx": onnx_path, **_export_tf(m, model_dir)}
        np.savez(model_dir / "source_outputs.npz", **m.reference(m.validation))
        for fmt, path in sorted(paths.items()):
            if fmt == "onnx":
                got, signature = _onnx_run(path, m.validation)
                parity, runtime = _parity(m, got, 1e-5), "onnxruntime"
            elif fmt.startswith("tflite"):
                got, signature = _tflite_run(path, m.validation)
                parity, runtime = _parity(m, got, 1e-5 if fmt == "tflite-fp32" else 0.1), "litert"
            else:
                signature, runtime = _tfjs_signature(path), "tfjs (parity: its source SavedModel's)"
                parity = _parity(m, _tflite_run(paths["tflite-fp32"], m.validation)[0], 1e-5)
            fmt_dir = model_dir / fmt
            files = [p for p in fmt_dir.rglob("*") if p.is_file()]
            entry = {"model_name": m.name, "lane": "torch", "format": fmt, "version": 1, "spec": m.spec,
                     "status": "ok", "path": str(path.relative_to(root)),
                     **describe_files(path if files == [path] else fmt_dir),
                     "signature": signature, "parity": parity,
                     "converter": {"path": f"torch -> {fmt}", "tools": {}},
                     "runtime": {"name": runtime, "package": runtime.split()[0], "version": "fixture"}}
            entries.append(entry)
    manifest = {"schema_version": 3, "created": "2026-01-01T00:00:00+00:00", "tool_versions": {"fixture": "1"},
                "models": {m: {"labels": {"stable": 1}, "retired": []} for m in sorted({e["model_name"] for e in entries})},
                "artifacts": sorted(entries, key=lambda e: (e["model_name"], e["format"]))}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


if __name__ == "__main__":
    import sys

    print(build(Path(sys.argv[1])))
