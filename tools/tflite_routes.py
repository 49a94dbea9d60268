"""Measure the routes from a JAX model to TFLite (issue 12), next to the Keras and torch lanes' routes.

For the MNIST MLP (the lanes' trained checkpoints in --art) and a small CNN (trained here in Flax for one short
epoch, its weights copied into Keras and torch so every lane computes the same function), each route writes a
SavedModel and/or TFLite fp32 + int8, then in LiteRT (num_threads=2): op histogram, batch-1 p50, batch-256
throughput (medians over repeats), size, max |diff| vs the source on the MNIST test set, int8 gates, and
whether the batch dimension can be resized at run time.

    PYTHONPATH=$PWD /work/main/.venv/bin/python tools/tflite_routes.py --art /tmp/lean-art --out /tmp/lean-routes

Self-contained on purpose (the exporters are being rewritten for the model spec): the converters here mirror
exporters/tf_edges.py and exporters/onnx_edges.py with the input/output names as arguments.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from exporters.tflite_ops import op_histogram
from rosetta.data import load_split

IN, OUT = "images", "probabilities"
HW = (28, 28)
B1_CALLS, B256_CALLS = 300, 20


# --- LiteRT ---------------------------------------------------------------------------------------------------
def _interp(path: Path):
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter(model_path=str(path), num_threads=2)


def _set_batch(it, n: int) -> None:
    it.resize_tensor_input(it.get_input_details()[0]["index"], [n, *HW])
    it.allocate_tensors()


def _invoke(it, x: np.ndarray) -> np.ndarray:
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    if inp["dtype"] == np.int8:
        scale, zero = inp["quantization"]
        x = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
    it.set_tensor(inp["index"], x)
    it.invoke()
    y = it.get_tensor(out["index"])
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        y = (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32)


def litert_predict(path: Path, images: np.ndarray, chunk: int = 1000) -> np.ndarray:
    it = _interp(path)
    outs = []
    for i in range(0, len(images), chunk):
        x = np.ascontiguousarray(images[i:i + chunk], np.float32)
        _set_batch(it, len(x))
        outs.append(_invoke(it, x))
    return np.concatenate(outs)


def litert_timing(path: Path, images: np.ndarray, resizable: bool = True) -> dict[str, float]:
    """Batch-1 p50 and batch-256 images/s (a file that cannot be resized: 256 batch-1 calls)."""
    it = _interp(path)
    _set_batch(it, 1)
    one = np.ascontiguousarray(images[:1], np.float32)
    for _ in range(20):
        _invoke(it, one)
    t = []
    for _ in range(B1_CALLS):
        s = time.perf_counter()
        _invoke(it, one)
        t.append(time.perf_counter() - s)
    if resizable:
        _set_batch(it, 256)
        batch = np.ascontiguousarray(images[:256], np.float32)
        _invoke(it, batch)
        s = time.perf_counter()
        for _ in range(B256_CALLS):
            _invoke(it, batch)
    else:
        s = time.perf_counter()
        for _ in range(B256_CALLS):
            for j in range(256):
                _invoke(it, np.ascontiguousarray(images[j:j + 1], np.float32))
    return {"b1_p50_ms": float(np.median(t) * 1e3), "b256_img_s": 256 * B256_CALLS / (time.perf_counter() - s)}


def resizable(path: Path, images: np.ndarray, reference: np.ndarray, tol: float) -> str:
    """Does the file run at batch 1, 7 and 256 after resize_tensor_input, matching the reference?"""
    try:
        it = _interp(path)
        for n in (1, 7, 256):
            _set_batch(it, n)
            y = _invoke(it, np.ascontiguousarray(images[:n], np.float32))
            if y.shape[0] != n or np.max(np.abs(y - reference[:n])) > tol:
                return f"wrong at batch {n} (shape {y.shape}, diff {np.max(np.abs(y - reference[:n])):.2g})"
        return "yes"
    except Exception as e:  # the point is to record why it fails
        return f"no: {str(e).splitlines()[0][:120]}"


# --- SavedModel -> TFLite (as exporters/tf_edges.py) ----------------------------------------------------------
def tflite_fp32(savedmodel: Path, dst: Path, **flags) -> None:
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel), signature_keys=["serving_default"])
    for k, v in flags.items():
        setattr(conv, k, v)
    dst.write_bytes(conv.convert())


def tflite_int8(savedmodel: Path, dst: Path, representative: np.ndarray, **flags) -> None:
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel), signature_keys=["serving_default"])
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([representative[i:i + 1]] for i in range(len(representative)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    for k, v in flags.items():
        setattr(conv, k, v)
    dst.write_bytes(conv.convert())


def _save_serving(module, fn, dst: Path, batch: int | None) -> None:
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([batch, *HW], tf.float32, name=IN)], autograph=False)
    def serve(images):
        return {OUT: fn(images)}
    tf.saved_model.save(module, str(dst), signatures={"serving_default": serve})


# --- JAX routes -----------------------------------------------------------------------------------------------
def jax2tf_savedmodel(apply: Callable, variables, dst: Path, batch: int | None, **convert_kw) -> None:
    """(a) batch=None: polymorphic batch "(b, 28, 28)", today's edge; (b) batch=1: a static shape."""
    import tensorflow as tf
    from jax.experimental import jax2tf

    module = tf.Module()
    module.variables_ = tf.nest.map_structure(lambda a: tf.Variable(np.asarray(a), trainable=False), variables)
    poly = [None, f"(b, {HW[0]}, {HW[1]})"] if batch is None else None
    converted = jax2tf.convert(apply, polymorphic_shapes=poly, with_gradient=False, **convert_kw)
    _save_serving(module, lambda images: converted(module.variables_, images), dst, batch)


def has_xla_call_module(savedmodel: Path) -> bool:
    from tensorflow.core.protobuf import saved_model_pb2
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((savedmodel / "saved_model.pb").read_bytes())
    graph = sm.meta_graphs[0].graph_def
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    return any(n.op == "XlaCallModule" for n in nodes)


def jax_to_onnx(apply: Callable, variables, dst: Path) -> None:
    import onnx
    from jax2onnx import to_onnx
    model = to_onnx(lambda images: apply(variables, images), [("B", *HW)], opset=18,
                    input_names=[IN], output_names=[OUT])
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(dst))


def onnx_to_savedmodel(src: Path, dst: Path) -> None:
    """As exporters/tf_edges.onnx_to_savedmodel (the torch lane's edge)."""
    import onnx2tf
    import tensorflow as tf
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "model.onnx"
        shutil.copy(src, copy)
        keras_model = onnx2tf.convert(input_onnx_file_path=str(copy), output_folder_path=str(Path(tmp) / "out"),
                                      keep_shape_absolutely_input_names=[IN], not_use_onnxsim=True,
                                      non_verbose=True, disable_model_save=True)
    module = tf.Module()
    module.model = keras_model
    _save_serving(module, lambda images: keras_model(images), dst, None)


def from_jax_tflite(apply: Callable, variables, dst: Path) -> None:
    """(e) TFLiteConverter.experimental_from_jax: HLO with a static batch of 1."""
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.experimental_from_jax(
        [lambda images: apply(variables, images)], [[(IN, np.zeros((1, *HW), np.float32))]])
    dst.write_bytes(conv.convert())


# --- Keras and torch lanes ------------------------------------------------------------------------------------
def keras_savedmodel(model, dst: Path) -> None:
    """As exporters/tf_edges.keras_to_savedmodel."""
    import keras
    import tensorflow as tf
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serving_default", fn=lambda images: {OUT: model(images, training=False)},
                         input_signature=[tf.TensorSpec([None, *HW], tf.float32, name=IN)])
    archive.write_out(str(dst), verbose=False)


def torch_to_onnx(model, dst: Path) -> None:
    import onnx
    import torch
    program = torch.onnx.export(model.eval(), (torch.zeros(2, *HW),), dynamo=True, opset_version=18,
                                input_names=[IN], output_names=[OUT],
                                dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1)}}, verbose=False)
    program.optimize()
    onnx.checker.check_model(program.model_proto, full_check=True)
    onnx.save(program.model_proto, str(dst))


# --- the CNN in three frameworks (same weights) ---------------------------------------------------------------
def flax_cnn():
    import flax.linen as nn

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, images, train: bool = False):
            x = images[..., None]  # NHWC
            x = nn.max_pool(nn.relu(nn.Conv(32, (3, 3), padding="VALID", name="conv1")(x)), (2, 2), (2, 2))
            x = nn.Conv(64, (3, 3), padding="VALID", name="conv2")(x)
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name="bn")(x)
            x = nn.max_pool(nn.relu(x), (2, 2), (2, 2))
            x = x.reshape((x.shape[0], -1))
            x = nn.relu(nn.Dense(128, name="dense1")(x))
            return nn.Dense(10, name="dense2")(x)
    return CNN()


def train_flax_cnn(images: np.ndarray, labels: np.ndarray, seed: int = 0):
    import jax
    import jax.numpy as jnp
    import optax

    module = flax_cnn()
    variables = module.init(jax.random.PRNGKey(seed), jnp.zeros((1, *HW)))
    opt = optax.adam(1e-3)
    params, stats, state = variables["params"], variables["batch_stats"], opt.init(variables["params"])

    @jax.jit
    def step(params, stats, state, x, y):
        def loss_fn(p):
            logits, upd = module.apply({"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), upd["batch_stats"]
        (_, stats), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), stats, state

    for i in range(0, len(images) - 31, 32):
        params, stats, state = step(params, stats, state, images[i:i + 32], labels[i:i + 32].astype(np.int32))
    variables = {"params": params, "batch_stats": stats}

    def apply(v, x):
        return jax.nn.softmax(module.apply(v, x), axis=-1)
    return apply, jax.device_get(variables)


def keras_cnn(v):
    import keras
    p, s = v["params"], v["batch_stats"]
    model = keras.Sequential([
        keras.Input((*HW,), name=IN), keras.layers.Reshape((*HW, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3), keras.layers.BatchNormalization(epsilon=1e-5), keras.layers.ReLU(),
        keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    weights = [p["conv1"]["kernel"], p["conv1"]["bias"], p["conv2"]["kernel"], p["conv2"]["bias"],
               p["bn"]["scale"], p["bn"]["bias"], s["bn"]["mean"], s["bn"]["var"],
               p["dense1"]["kernel"], p["dense1"]["bias"], p["dense2"]["kernel"], p["dense2"]["bias"]]
    model.set_weights([np.asarray(w) for w in weights])
    return model


def torch_cnn(v):
    import torch
    from torch import nn
    p, s = v["params"], v["batch_stats"]

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3)
            self.bn = nn.BatchNorm2d(64, eps=1e-5)
            self.dense1, self.dense2 = nn.Linear(1600, 128), nn.Linear(128, 10)

        def forward(self, images):
            x = torch.max_pool2d(torch.relu(self.conv1(images[:, None])), 2)
            x = torch.max_pool2d(torch.relu(self.bn(self.conv2(x))), 2)
            x = torch.relu(self.dense1(x.flatten(1)))
            return torch.softmax(self.dense2(x), dim=-1)

    m = CNN()
    t = lambda a: torch.from_numpy(np.ascontiguousarray(np.asarray(a, np.float32)))  # noqa: E731
    with torch.no_grad():
        m.conv1.weight.copy_(t(np.transpose(p["conv1"]["kernel"], (3, 2, 0, 1))))
        m.conv1.bias.copy_(t(p["conv1"]["bias"]))
        m.conv2.weight.copy_(t(np.transpose(p["conv2"]["kernel"], (3, 2, 0, 1))))
        m.conv2.bias.copy_(t(p["conv2"]["bias"]))
        m.bn.weight.copy_(t(p["bn"]["scale"]))
        m.bn.bias.copy_(t(p["bn"]["bias"]))
        m.bn.running_mean.copy_(t(s["bn"]["mean"]))
        m.bn.running_var.copy_(t(s["bn"]["var"]))
        # Flax flattens [h, w, c], torch [c, h, w]: reorder the first dense layer's input rows.
        k = np.asarray(p["dense1"]["kernel"]).reshape(5, 5, 64, 128).transpose(2, 0, 1, 3).reshape(1600, 128)
        m.dense1.weight.copy_(t(k.T))
        m.dense1.bias.copy_(t(p["dense1"]["bias"]))
        m.dense2.weight.copy_(t(np.asarray(p["dense2"]["kernel"]).T))
        m.dense2.bias.copy_(t(p["dense2"]["bias"]))
    return m.eval()


# --- driver ---------------------------------------------------------------------------------------------------
def measure(name: str, path: Path, test, source: np.ndarray, labels: np.ndarray, int8: bool) -> dict:
    row: dict = {"route": name, "path": str(path), "bytes": path.stat().st_size}
    hist = op_histogram(path)
    row.update(ops=sum(hist.values()), histogram=hist)
    one_by_one = litert_predict(path, test.images[:256], chunk=1)
    row["resizable"] = resizable(path, test.images, one_by_one, 0.05 if int8 else 1e-5)
    # A file that cannot be resized is still checked, one image per call, at the batch it was built for.
    pred = litert_predict(path, test.images, chunk=1000 if row["resizable"] == "yes" else 1)
    row["max_abs_diff"] = float(np.max(np.abs(pred - source)))
    row["argmax_agreement"] = float(np.mean(pred.argmax(1) == source.argmax(1)))
    row["accuracy"] = float(np.mean(pred.argmax(1) == labels))
    row["source_accuracy"] = float(np.mean(source.argmax(1) == labels))
    if int8:
        drop = row["source_accuracy"] - row["accuracy"]
        row["gate"] = bool(drop <= 0.005 and row["argmax_agreement"] >= 0.99)
    else:
        row["gate"] = bool(row["max_abs_diff"] <= 1e-5 and row["argmax_agreement"] == 1.0)
    return row


def timing_rounds(rows: list[dict], images: np.ndarray, rounds: int) -> None:
    """Round-robin over every file so a busy shared machine slows all of them alike; medians over rounds."""
    samples: dict[int, list[dict]] = {i: [] for i in range(len(rows))}
    for _ in range(rounds):
        for i, row in enumerate(rows):
            samples[i].append(litert_timing(Path(row["path"]), images, row["resizable"] == "yes"))
    for i, row in enumerate(rows):
        for k in samples[i][0]:
            row[k] = float(np.median([s[k] for s in samples[i]]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--art", type=Path, default=Path("/tmp/lean-art"), help="artifacts of a quick train+export")
    ap.add_argument("--out", type=Path, default=Path("/tmp/lean-routes"))
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--rounds", type=int, default=7, help="timing rounds (round-robin over every file)")
    ap.add_argument("--only", default="", help="comma-separated route-name prefixes to run")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    test, train = load_split("test"), load_split("train")
    representative = train.images[:500].astype(np.float32)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}

    for model_name in args.models.split(","):
        d = args.out / model_name
        d.mkdir(exist_ok=True)
        if model_name == "mlp":
            import jax
            from flax import serialization

            from models import jax_mlp
            template = jax_mlp.build(0).params
            params = serialization.from_bytes(template, (args.art / "jax" / "params.msgpack").read_bytes())
            jax_apply, jax_vars = (lambda v, x: jax_mlp.probabilities(v, x)), params
            sources = {lane: np.load(args.art / lane / "source_probabilities.npy") for lane in ("keras", "torch")}
            lane_files = {lane: {fmt: args.art / lane / fmt / "model.tflite" for fmt in ("tflite-fp32", "tflite-int8")}
                          for lane in ("keras", "torch")}
        else:
            import jax
            jax_apply, jax_vars = train_flax_cnn(train.images[:5000], train.labels[:5000])
            km, tm = keras_cnn(jax_vars), torch_cnn(jax_vars)
            import torch
            with torch.no_grad():
                sources = {"keras": km.predict(test.images, batch_size=1000, verbose=0),
                           "torch": tm(torch.from_numpy(test.images)).numpy()}
            lane_files = {}
            for lane, make in (("keras", lambda p: keras_savedmodel(km, p)),
                               ("torch", lambda p: (torch_to_onnx(tm, d / "torch.onnx"),
                                                    onnx_to_savedmodel(d / "torch.onnx", p)))):
                sm = d / f"{lane}-savedmodel"
                shutil.rmtree(sm, ignore_errors=True)
                make(sm)
                lane_files[lane] = {"tflite-fp32": d / f"{lane}-fp32.tflite", "tflite-int8": d / f"{lane}-int8.tflite"}
                tflite_fp32(sm, lane_files[lane]["tflite-fp32"])
                tflite_int8(sm, lane_files[lane]["tflite-int8"], representative)
        jax_source = np.concatenate([np.asarray(jax.jit(jax_apply)(jax_vars, test.images[i:i + 1000]))
                                     for i in range(0, len(test.images), 1000)])
        sources["jax"] = jax_source
        for lane, src in sources.items():
            print(f"[{model_name}] {lane} source vs jax source: max|diff| {np.max(np.abs(src - jax_source)):.2g}")

        sm_poly, sm_static, sm_onnx = d / "jax-sm-poly", d / "jax-sm-static1", d / "jax-sm-onnx"
        routes: list[tuple[str, Callable[[], Path], bool]] = []

        def sm_route(sm: Path, build: Callable[[], None]):
            def ensure() -> Path:
                if not sm.exists():
                    build()
                return sm
            return ensure

        poly = sm_route(sm_poly, lambda: jax2tf_savedmodel(jax_apply, jax_vars, sm_poly, None))
        static = sm_route(sm_static, lambda: jax2tf_savedmodel(jax_apply, jax_vars, sm_static, 1))
        via_onnx = sm_route(sm_onnx, lambda: (jax_to_onnx(jax_apply, jax_vars, d / "jax.onnx"),
                                              onnx_to_savedmodel(d / "jax.onnx", sm_onnx)))
        fuse = {"_experimental_unsafe_fuse_dynamic_shaped_broadcast": True}
        for fmt, int8 in (("fp32", False), ("int8", True)):
            conv = (lambda sm, dst, **kw: tflite_int8(sm, dst, representative, **kw)) if int8 else tflite_fp32
            routes += [
                (f"jax a poly {fmt}", lambda c=conv, f=fmt: (c(poly(), d / f"a-{f}.tflite"), d / f"a-{f}.tflite")[1], int8),
                (f"jax b static1 {fmt}", lambda c=conv, f=fmt: (c(static(), d / f"b-{f}.tflite"), d / f"b-{f}.tflite")[1], int8),
                (f"jax d onnx2tf {fmt}", lambda c=conv, f=fmt: (c(via_onnx(), d / f"d-{f}.tflite"), d / f"d-{f}.tflite")[1], int8),
                (f"jax e poly+fuse-bcast {fmt}", lambda c=conv, f=fmt: (c(poly(), d / f"e1-{f}.tflite", **fuse),
                                                                         d / f"e1-{f}.tflite")[1], int8),
            ]
            for lane in ("keras", "torch"):
                routes.append((f"{lane} lane {fmt}", lambda p=lane_files[lane][f"tflite-{fmt}"]: p, int8))
        routes.append(("jax e from_jax fp32", lambda: (from_jax_tflite(jax_apply, jax_vars, d / "e2-fp32.tflite"),
                                                       d / "e2-fp32.tflite")[1], False))

        def nonnative() -> Path:
            sm = d / "jax-sm-nonnative"
            shutil.rmtree(sm, ignore_errors=True)
            jax2tf_savedmodel(jax_apply, jax_vars, sm, None, native_serialization=False)
            tflite_fp32(sm, d / "c-fp32.tflite")
            print(f"[{model_name}] (c) native_serialization=False SavedModel has XlaCallModule: "
                  f"{has_xla_call_module(sm)} (poly: {has_xla_call_module(poly())})")
            return d / "c-fp32.tflite"
        routes.append(("jax c non-native fp32", nonnative, False))

        for name, make, int8 in routes:
            if args.only and not any(name.startswith(p) for p in args.only.split(",")):
                continue
            lane = name.split()[0]
            key = f"{model_name}/{name}"
            try:
                t = time.perf_counter()
                path = make()
                convert_s = time.perf_counter() - t
                row = measure(name, path, test, sources[lane], test.labels, int8)
                row["convert_s"] = convert_s
                if lane == "jax":
                    row["max_abs_diff_vs_jax_source"] = row["max_abs_diff"]
            except Exception as e:
                row = {"route": name, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
                traceback.print_exc()
            results[key] = row
            results_path.write_text(json.dumps(results, indent=1))
            print(key, {k: v for k, v in row.items() if k != "histogram"}, flush=True)
            if "histogram" in row:
                print("   ", row["histogram"], flush=True)
        timed = [results[k] for k in results if k.startswith(f"{model_name}/") and "error" not in results[k]]
        timing_rounds(timed, test.images, args.rounds)
        results_path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
