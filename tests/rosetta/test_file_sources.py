"""Model files as sources: an ONNX file and a SavedModel directory, through the CLI and the Python API.

The models are small but real: an ONNX graph built with onnx.helper (two inputs, two outputs in the graph's own
order) and a tf.Module saved with two signatures. Every artifact is validated in its runtime against the file's
own runtime (ONNX Runtime, TensorFlow).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import rosetta
from rosetta.cli import main
from rosetta.exporters.graph import plan
from rosetta.sources import load_source

RNG = np.random.default_rng(0)


def _onnx_model(path: Path, batch: int | str = "N") -> Path:
    """inputs a, b [N, 4] -> scores = softmax(4 (a + b) W + c) [N, 3], features = relu(a V) [N, 6]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = [numpy_helper.from_array(RNG.normal(size=s).astype(np.float32), n)
               for n, s in (("W", (4, 3)), ("c", (3,)), ("V", (4, 6)))]
    weights.append(numpy_helper.from_array(np.array(4.0, np.float32), "four"))
    nodes = [helper.make_node("Add", ["a", "b"], ["ab"]), helper.make_node("MatMul", ["ab", "W"], ["abW"]),
             helper.make_node("Add", ["abW", "c"], ["logits"]), helper.make_node("Mul", ["logits", "four"], ["z"]),
             helper.make_node("Softmax", ["z"], ["scores"], axis=-1),
             helper.make_node("MatMul", ["a", "V"], ["aV"]), helper.make_node("Relu", ["aV"], ["features"])]
    graph = helper.make_graph(
        nodes, "two_io", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [batch, 4]) for n in ("a", "b")],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, 3]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, 6])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _saved_model(path: Path) -> Path:
    """x [N, 5] -> serving_default: {"prob": sigmoid(x W)} [N, 2]; "embed": {"vector": x E} [N, 8]."""
    import tensorflow as tf

    module = tf.Module()
    module.w = tf.Variable(RNG.normal(size=(5, 2)).astype(np.float32))
    module.e = tf.Variable(RNG.normal(size=(5, 8)).astype(np.float32))
    sig = [tf.TensorSpec([None, 5], tf.float32, name="x")]
    serve = tf.function(lambda x: {"prob": tf.sigmoid(tf.matmul(x, module.w))}, input_signature=sig)
    embed = tf.function(lambda x: {"vector": tf.matmul(x, module.e)}, input_signature=sig)
    tf.saved_model.save(module, str(path), signatures={"serving_default": serve, "embed": embed})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("model_files")
    onnx_path, saved = _onnx_model(root / "two_io.onnx"), _saved_model(root / "tagger")
    np.savez(root / "ab.npz", a=RNG.normal(size=(120, 4)).astype(np.float32),
             b=RNG.normal(size=(120, 4)).astype(np.float32))
    np.savez(root / "a_only.npz", a=RNG.normal(size=(20, 4)).astype(np.float32))
    np.savez(root / "abc.npz", **{k: RNG.normal(size=(20, 4)).astype(np.float32) for k in "abc"})
    np.save(root / "x.npy", RNG.normal(size=(120, 5)))  # float64: cast to the signature's float32
    return {"onnx": onnx_path, "saved": saved, "ab": root / "ab.npz", "a_only": root / "a_only.npz",
            "abc": root / "abc.npz", "x": root / "x.npy", "root": root}


def _error_line(capsys: pytest.CaptureFixture) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rosetta: error:")]
    assert len(lines) == 1
    return lines[0]


def test_files_load_with_their_own_names_and_runtimes(files):
    onnx_source, saved = load_source(str(files["onnx"])), load_source(str(files["saved"]))
    assert (onnx_source.lane, saved.lane) == ("onnx-file", "savedmodel-dir")
    spec, examples = onnx_source.model.infer_spec("two-io", dict(np.load(files["ab"])))
    assert spec.input_names == ["a", "b"] and spec.output_names == ["scores", "features"]  # the graph's order
    assert [t.kind for t in spec.outputs] == ["probabilities", "logits"]  # ReLU features look like logits
    assert load_source(str(files["saved"]), signature="embed").model.infer_spec(
        "e", np.load(files["x"]))[0].to_json()["outputs"] == [
        {"name": "vector", "datatype": "FP32", "shape": [-1, 8], "kind": "logits"}]


@pytest.mark.parametrize("case", ["truncated", "not_savedmodel", "signature", "missing_input", "extra_input",
                                  "signature_of_onnx",
                                  "gate", "gate_value", "fixed_batch", "kind"])
def test_bad_input_exits_2_with_one_line_and_publishes_nothing(files, tmp_path, capsys, case):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(files["onnx"].read_bytes()[:200])
    plain_dir = tmp_path / "not_a_model"
    plain_dir.mkdir()
    (plain_dir / "weights.bin").write_bytes(b"\0" * 8)
    model, examples, extra, message = {
        "truncated": (truncated, files["ab"], [], "truncated.onnx: not a loadable ONNX model"),
        "not_savedmodel": (plain_dir, files["x"], [], "not_a_model: not a SavedModel directory"),
        "signature": (files["saved"], files["x"], ["--signature", "predict"],
                      "no signature 'predict'; signatures: embed, serving_default"),
        "missing_input": (files["onnx"], files["a_only"], [], "the examples lack input(s) b"),
        "extra_input": (files["onnx"], files["abc"], [], "the model has no input(s) c; its inputs: a, b"),
        "signature_of_onnx": (files["onnx"], files["ab"], ["--signature", "embed"],
                              "--signature is for a SavedModel directory"),
        "gate": (files["onnx"], files["ab"], ["--gate", "f1=0.9"], "unknown gate(s) f1"),
        "gate_value": (files["onnx"], files["ab"], ["--gate", "atol"], "--gate 'atol': expected NAME=NUMBER"),
        "fixed_batch": (_onnx_model(tmp_path / "fixed.onnx", batch=1), files["ab"], [],
                        "input a has a fixed batch dimension 1"),
        "kind": (files["onnx"], files["ab"], ["--output-kind", "scores=boxes"], "unknown kind"),
    }[case]
    out = tmp_path / "artifacts"
    code = main(["--out", str(out), "export", "--model", str(model), "--example-inputs", str(examples), *extra])
    assert code == 2 and message in _error_line(capsys)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_onnx_file_through_the_cli_to_every_format(files, tmp_path):
    out = tmp_path / "artifacts"
    code = main(["--out", str(out), "export", "--model", str(files["onnx"]), "--example-inputs", str(files["ab"]),
                 "--gate", "sqnr_db=18", "--output-kind", "features=regression"])
    cells = {e["format"]: e for e in json.loads((out / "manifest.json").read_text())["artifacts"]}
    assert code == 0, {f: (e["status"], e.get("error"), e.get("parity", {}).get("failures")) for f, e in cells.items()}
    assert set(cells) == set(plan("onnx-file"))
    # a model this small has no weight tensor dynamic-range int8 quantizes: said, not failed
    assert cells.pop("tflite-dynamic-int8")["status"] == "skipped"
    assert all(e["status"] == "ok" for e in cells.values())
    assert all(e["model_name"] == "two_io" and e["lane"] == "onnx-file" for e in cells.values())
    assert cells["onnx"]["converter"]["path"] == "onnx-file -> onnx"
    assert cells["onnx"]["sha256"] == __import__("hashlib").sha256(files["onnx"].read_bytes()).hexdigest()
    assert cells["tfjs"]["converter"]["path"] == "onnx-file -> onnx -> savedmodel -> tfjs"
    for e in cells.values():
        assert [t["name"] for t in e["spec"]["inputs"]] == ["a", "b"]
        assert set(e["parity"]["outputs"]) == {"scores", "features"}
        assert e["parity"]["outputs"]["features"]["kind"] == "regression"
    int8 = cells["tflite-int8"]["parity"]["gate"]
    assert int8["sqnr_db[features]"]["limit"] == 18 and int8["argmax_agreement"]["value"] >= 0.99


@pytest.mark.slow
def test_savedmodel_signature_through_the_api(files, tmp_path):
    entries = rosetta.export(files["saved"], files["x"], artifacts=tmp_path, signature="embed",
                             output_kinds={"vector": "embedding"},
                             formats=["savedmodel", "tflite-fp32", "tflite-int8", "onnx", "tfjs"])
    cells = {e.format: e for e in entries}
    assert all(e.ok for e in entries), {f: (e.status, e.error, e.parity and e.parity.failures) for f, e in cells.items()}
    assert cells["onnx"].converter["path"] == "savedmodel-dir -> savedmodel -> onnx"
    assert {e.model_name for e in entries} == {"tagger"}
    assert cells["savedmodel"].signature["inputs"][0]["name"] == "x"
    assert [t.kind for t in cells["tflite-int8"].spec.outputs] == ["embedding"]
    assert set(cells["tflite-int8"].parity.gate) == {"cosine[vector]", "sqnr_db[vector]"}


@pytest.mark.slow
def test_an_nchw_conv_net_keeps_its_layout(tmp_path):
    """image [N, 3, 8, 8] (NCHW, as torch exports) -> Conv 3x3 -> Relu -> Flatten -> Gemm -> Softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = [numpy_helper.from_array(RNG.normal(size=s).astype(np.float32) * 0.5, n)
               for n, s in (("K", (4, 3, 3, 3)), ("kb", (4,)), ("G", (4 * 6 * 6, 5)), ("gb", (5,)))]
    nodes = [helper.make_node("Conv", ["image", "K", "kb"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]), helper.make_node("Gemm", ["f", "G", "gb"], ["g"]),
             helper.make_node("Softmax", ["g"], ["scores"], axis=-1)]
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                                            ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 5])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path = tmp_path / "ConvNet.onnx"
    onnx.save(model, str(path))
    images = RNG.normal(size=(100, 3, 8, 8)).astype(np.float32)
    entries = rosetta.export(path, images, artifacts=tmp_path / "out", formats=["savedmodel", "tflite-fp32"])
    assert all(e.ok for e in entries), [(e.format, e.error, e.parity and e.parity.failures) for e in entries]
    for e in entries:
        assert e.model_name == "convnet" and e.spec.inputs[0].layout == "NCHW"
        assert e.signature["inputs"][0]["shape"] == [None, 3, 8, 8]  # not transposed to NHWC by onnx2tf
