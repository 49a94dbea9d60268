"""tflite-fp16, onnx-fp16, onnx-int8, OpenVINO IR and ExecuTorch: reached from the right lanes, each artifact run in
its own runtime against the source, a corrupt artifact refused with one clear line, an unreachable form skipped
with its reason, and onnx-int8's float nodes chosen by measurement."""
import argparse

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from rosetta import contract
from rosetta.core import manifest
from rosetta.core.examples import split_examples
from rosetta.core.spec import ModelSpec, TensorSpec
from rosetta.exporters import gates
from rosetta.exporters.base import LazyConverter, Unsupported
from rosetta.exporters.graph import describe, plan
from rosetta.exporters.pipeline import export_model
from rosetta.exporters.runtimes import RUNTIMES
from rosetta.sources import detect, infer_spec
from tests.byom import user_models

NEW = ("tflite-fp16", "onnx-fp16", "onnx-int8", "openvino", "executorch")


def test_new_formats_are_reached_from_the_lanes_that_can_reach_them():
    for lane in contract.LANES:
        reached = set(plan(lane))
        assert {"tflite-fp16", "onnx-fp16", "onnx-int8", "openvino"} <= reached, lane
        assert ("executorch" in reached) == (lane in ("torch", "keras-torch")), lane
    assert describe(plan("torch")["executorch"]) == "torch -> pt2 -> executorch"
    assert describe(plan("keras")["onnx-int8"]) == "keras -> savedmodel -> onnx -> onnx-int8"
    assert describe(plan("jax")["openvino"]) == "jax -> onnx -> openvino"
    assert describe(plan("keras")["tflite-fp16"]) == "keras -> savedmodel -> tflite-fp16"


@pytest.fixture(scope="module")
def torch_model():
    """The small NCHW conv classifier (conv, BatchNorm, mean, linear, softmax) of the BYOM tests."""
    source = detect(user_models.torch_nchw_classifier(), "test")
    spec, examples = infer_spec(source, "tiny", user_models.torch_nchw_examples(200))
    return source, spec, split_examples(examples, None)


@pytest.fixture(scope="module")
def exported(torch_model, tmp_path_factory):
    source, spec, examples = torch_model
    root = tmp_path_factory.mktemp("new-targets")
    entries = export_model(source, spec, list(NEW), root, examples, log=lambda e: None)
    manifest.write(root, entries)
    return root, {e.format: e for e in entries}


def test_every_new_format_runs_in_its_runtime_and_passes_its_gate(exported):
    _, entries = exported
    assert {f: e.status for f, e in entries.items()} == dict.fromkeys(NEW, "ok"), \
        {f: e.why() for f, e in entries.items()}
    assert {f: e.runtime["name"] for f, e in entries.items()} == {
        "tflite-fp16": "litert", "onnx-fp16": "onnxruntime", "onnx-int8": "onnxruntime",
        "openvino": "openvino-cpu", "executorch": "executorch-xnnpack"}
    assert entries["openvino"].parity.max_abs_diff <= gates.FLOAT_MAX_ABS_DIFF  # float32 IR, f32 inference
    assert entries["executorch"].parity.max_abs_diff <= gates.FLOAT_MAX_ABS_DIFF
    for fmt in ("onnx-fp16", "tflite-fp16"):  # float16 rounding is visible, and held to its relative gate
        (out,) = entries[fmt].parity.outputs.values()
        assert 0 < out["scaled_max_diff"] <= gates.DEFAULT.fp16_scaled_diff
    # The IR is two files, hashed as its directory; the int8 and fp16 files are smaller than the float ONNX.
    assert sorted(f["path"] for f in entries["openvino"].files) == ["model.bin", "model.xml"]
    notes = entries["onnx-int8"].converter["notes"]["onnx-int8"]
    assert notes["trials"][-1]["passed"] and notes["nodes_to_exclude"] == [] and notes["node_sqnr_db"]
    et = entries["executorch"].converter["notes"]["executorch"]
    assert et["delegated_ops"] > 0 and et["delegate_calls"] >= 1 and "portable_ops" in et
    assert 1 <= entries["executorch"].signature["planned_batch"] <= 256
    assert entries["onnx-int8"].signature["inputs"][0]["dtype"] == "float32"  # QDQ: float in, float out


@pytest.mark.parametrize("variant", ["onnx-fp16", "onnx-int8"])
def test_the_onnx_server_serves_a_variant_under_the_model_name(exported, torch_model, tmp_path, variant):
    import asyncio

    from kserve.model_repository import ModelRepository

    from rosetta.serving.runtime.model_table import ModelTable
    from rosetta.serving.server.config import add_serve_arguments, config_from_args

    root, entries = exported
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    config = config_from_args(parser.parse_args(["--artifacts", str(root), "--onnx-variant", variant]))
    assert config.onnx_variant == variant
    served = manifest.served(root, config.onnx_variant)
    assert [(m.name, m.entry.format) for m in served.versions] == [("tiny", variant)]
    table = ModelTable(ModelRepository(), config, tmp_path / "repo")
    loaded, errors = table.load(table.pending(served))
    assert errors == {} and table.apply(served, loaded)[0]
    rows = torch_model[2].validation
    got = asyncio.run(table.models()["tiny"].loaded()[1].infer({k: v[:8] for k, v in rows.items()}))
    want = RUNTIMES[variant].run(entries[variant].artifact(root), entries[variant].spec,
                                 {k: v[:8] for k, v in rows.items()})
    (name,) = entries[variant].spec.output_names
    np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-6)  # what the export validated


def _garbage(directory, files: dict[str, bytes]):
    directory.mkdir(parents=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    return directory / next(iter(files))


@pytest.mark.parametrize("fmt, files, message", [
    ("executorch", {"model.pte": b"PK\x03\x04 not a flatbuffer program"}, "not a loadable ExecuTorch program"),
    ("openvino", {"model.xml": b"<net name='x'><layers><layer id='0'", "model.bin": b"\x00" * 16},
     "not a readable OpenVINO IR"),
])
def test_a_corrupt_artifact_is_refused_with_one_clear_line(tmp_path, fmt, files, message):
    spec = ModelSpec("m", (TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("y", "FP32", (-1, 2)),))
    path = _garbage(tmp_path / fmt, files)
    for call in (lambda: RUNTIMES[fmt].load(path, spec), lambda: RUNTIMES[fmt].signature(path, spec)):
        with pytest.raises(ValueError, match=message) as err:
            call()
        assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_corrupt_pte_from_its_converter_fails_validation_and_is_not_published(torch_model, tmp_path,
                                                                               monkeypatch):
    source, spec, examples = torch_model
    real_call = LazyConverter.__call__

    def convert(self, src, dst, ctx):
        if self.ref.endswith(":pt2_to_executorch"):
            dst.write_bytes(b"\x00" * 64)
            return None
        return real_call(self, src, dst, ctx)
    monkeypatch.setattr(LazyConverter, "__call__", convert)
    (entry,) = export_model(source, spec, ["executorch"], tmp_path, examples, log=lambda e: None)
    assert entry.status == "failed" and "not a loadable ExecuTorch program" in entry.error and entry.path is None
    assert not (tmp_path / "tiny").exists() or not any((tmp_path / "tiny").iterdir())


def test_a_form_the_model_cannot_take_is_skipped_with_its_reason(torch_model, tmp_path, monkeypatch):
    source, spec, examples = torch_model
    real_call = LazyConverter.__call__

    def convert(self, src, dst, ctx):
        if self.ref.endswith(":onnx_to_openvino"):
            raise Unsupported("no such form for this model")
        return real_call(self, src, dst, ctx)
    monkeypatch.setattr(LazyConverter, "__call__", convert)
    entries = {e.format: e for e in export_model(source, spec, ["onnx", "openvino"], tmp_path, examples,
                                                 log=lambda e: None)}
    assert entries["onnx"].ok
    assert entries["openvino"].status == "skipped" and entries["openvino"].path is None
    assert entries["openvino"].error == "onnx -> openvino: no such form for this model"


def test_executorch_skips_a_model_with_free_dims_besides_the_batch(tmp_path):
    from rosetta.exporters.context import ExportContext
    from rosetta.exporters.executorch_edges import pt2_to_executorch

    spec = ModelSpec("m", (TensorSpec("x", "FP32", (-1, -1, 4)),), (TensorSpec("y", "FP32", (-1, 2)),))
    with pytest.raises(Unsupported, match="free dimensions besides the batch"):
        pt2_to_executorch(tmp_path / "model.pt2", tmp_path / "model.pte", ExportContext(None, spec, {}, {}))


def test_executorch_runs_a_program_with_channels_last_copies(tmp_path):
    """Keras' torch backend leaves channels_last copies around its convolutions in its .pt2: the .pte drops them (no
    value changes) and runs in ExecuTorch's runtime as the program does; with them it failed with error 0x12."""
    import torch

    from rosetta.exporters.context import ExportContext
    from rosetta.exporters.executorch_edges import bounded_batch, pt2_to_executorch

    torch.manual_seed(0)
    net, x = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Softmax(-1)).eval(), \
        np.random.default_rng(0).normal(size=(6, 1, 8, 8)).astype(np.float32)
    module = torch.export.export(net, (torch.from_numpy(x),), dynamic_shapes=bounded_batch(1)).module()
    conv = next(n for n in module.graph.nodes if n.target is torch.ops.aten.conv2d.default)
    with module.graph.inserting_before(conv):  # what Keras' torch backend writes before a convolution
        copy = module.graph.call_function(torch.ops.aten.contiguous.default, (conv.args[0],),
                                          {"memory_format": torch.channels_last})
    conv.replace_input_with(conv.args[0], copy)
    module.recompile()
    torch.export.save(torch.export.export(module, (torch.from_numpy(x),), dynamic_shapes=bounded_batch(1)),
                      tmp_path / "model.pt2")
    spec = ModelSpec("m", (TensorSpec("x", "FP32", (-1, 1, 8, 8)),), (TensorSpec("y", "FP32", (-1, 144)),))
    notes = pt2_to_executorch(tmp_path / "model.pt2", tmp_path / "model.pte",
                              ExportContext(None, spec, {"x": x}, {"x": x}))
    assert notes["layout_copies_dropped"] == 1
    got = RUNTIMES["executorch"].run(tmp_path / "model.pte", spec, {"x": x})["y"]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() <= 1e-6


def _mlp_onnx(path, rng):
    """x[?, 16] -> MatMul -> Relu -> MatMul -> Softmax, as an ONNX file (named nodes)."""
    w1, w2 = rng.normal(size=(16, 32)).astype(np.float32), rng.normal(size=(32, 6)).astype(np.float32) * 2
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"), helper.make_node("Relu", ["h"], ["r"], name="relu"),
         helper.make_node("MatMul", ["r", "w2"], ["z"], name="fc2"),
         helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=-1)],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 6])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))


def test_int8_keeps_the_worst_measured_nodes_float_while_the_gate_fails(tmp_path, monkeypatch):
    from rosetta.exporters import onnx_variant_edges as edges
    from rosetta.exporters.context import ExportContext

    rng = np.random.default_rng(0)
    _mlp_onnx(tmp_path / "model.onnx", rng)
    spec = ModelSpec("m", (TensorSpec("x", "FP32", (-1, 16)),), (TensorSpec("y", "FP32", (-1, 6), kind="probabilities"),))
    unreachable = gates.DEFAULT.override({"argmax_agreement": 1.01})  # every measured step is taken
    ctx = ExportContext(None, spec, {"x": rng.normal(size=(200, 16)).astype(np.float32)}, {}, unreachable)
    notes = edges.onnx_to_int8(tmp_path / "model.onnx", tmp_path / "int8.onnx", ctx)
    trials, excluded = notes["trials"], notes["nodes_to_exclude"]
    assert len(excluded) == min(edges.MAX_FLOAT_NODES, 4) and len(trials) == len(excluded) + 1
    assert set(excluded) <= {"fc1", "relu", "fc2", "softmax"}
    assert [t["float_nodes"] for t in trials] == [excluded[:i] for i in range(len(trials))]
    assert trials[-1]["sqnr_db"] >= trials[0]["sqnr_db"]  # what stays float no longer loses precision
    assert set(notes["node_sqnr_db"]) <= {"fc1", "relu", "fc2", "softmax"}
    onnx.checker.check_model(onnx.load(str(tmp_path / "int8.onnx")))


def test_fp16_gate_is_relative_to_the_output_scale():
    spec = ModelSpec("m", (TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("v", "FP32", (-1, 3)),))
    rng = np.random.default_rng(0)
    source = {"v": (rng.normal(size=(100, 3)) * 1000).astype(np.float32)}
    rounded = {"v": source["v"].astype(np.float16).astype(np.float32)}  # |diff| up to ~0.25: far above 1e-5
    assert gates.parity("onnx-fp16", rounded, source, spec).passed
    assert not gates.parity("onnx", rounded, source, spec).passed
    drifted = {"v": source["v"] + 0.02 * np.abs(source["v"]).max()}
    result = gates.parity("tflite-fp16", drifted, source, spec)
    assert not result.passed and result.failures[0].startswith("scaled_max_diff[v] 0.02")
