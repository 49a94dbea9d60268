"""Failure handling: a failing converter leaves no half artifact, fails only its cells, and says why; a drifting
runtime fails its gate with the numbers; an artifact that changes the input layout is refused."""
import numpy as np
import pytest

from rosetta.core.examples import split_examples
from rosetta.exporters.base import LazyConverter
from rosetta.exporters.pipeline import check_layout, export_model
from rosetta.sources import detect, infer_spec
from tests.byom import user_models


@pytest.fixture
def torch_model():
    """A small NCHW torch classifier: parity compares each artifact with its own source."""
    source = detect(user_models.torch_nchw_classifier(), "test")
    spec, examples = infer_spec(source, "tiny", user_models.torch_nchw_examples(60))
    return source, spec, split_examples(examples, None)


def test_failing_converter_leaves_no_half_artifact_and_others_run(torch_model, tmp_path, monkeypatch):
    source, spec, examples = torch_model
    (tmp_path / "tiny" / "1" / "torchscript").mkdir(parents=True)
    (tmp_path / "tiny" / "1" / "torchscript" / "model.pt").write_bytes(b"previous good artifact")

    def half_written_then_crash(src, dst, ctx):
        dst.write_bytes(b"partial")
        raise RuntimeError("converter exploded")

    real_call = LazyConverter.__call__

    def convert(self, src, dst, ctx):
        if self.ref == "torch_edges:torch_to_torchscript":
            return half_written_then_crash(src, dst, ctx)
        return real_call(self, src, dst, ctx)

    monkeypatch.setattr(LazyConverter, "__call__", convert)
    entries = export_model(source, spec, ["onnx", "torchscript", "pt2"], tmp_path, examples, log=lambda e: None)
    status = {e.format: e.status for e in entries}
    assert status == {"onnx": "ok", "torchscript": "failed", "pt2": "ok"}
    failed = next(e for e in entries if e.format == "torchscript")
    assert "converter exploded" in failed.error and failed.path is None
    # A new version beside the previous one, which is untouched; no half artifact, no temp dirs left behind.
    assert {e.version for e in entries} == {2}
    assert (tmp_path / "tiny" / "1" / "torchscript" / "model.pt").read_bytes() == b"previous good artifact"
    assert sorted(p.name for p in (tmp_path / "tiny" / "2").iterdir()) == ["onnx", "pt2", "sample_inputs.npz",
                                                                          "source_outputs.npz"]
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["1", "2"]


def test_drifting_runtime_fails_the_gate_with_the_numbers(torch_model, tmp_path, monkeypatch):
    from rosetta.exporters.runtimes import RUNTIMES, Runtime

    source, spec, examples = torch_model
    original = RUNTIMES["onnx"]

    def drift(path, spec_, inputs):
        return {k: v + np.float32(1e-4) for k, v in original.run(path, spec_, inputs).items()}
    monkeypatch.setitem(RUNTIMES, "onnx", Runtime(original.name, original.distribution, None, original.signature,
                                                  batch_run=drift))
    (entry,) = export_model(source, spec, ["onnx"], tmp_path, examples, log=lambda e: None)
    assert entry.status == "gate-failed"
    assert entry.parity.failures[0].startswith("max_abs_diff 0.0001")


def test_a_transposed_input_is_refused_not_shipped(torch_model):
    _, spec, _ = torch_model
    check_layout(spec, {"inputs": [{"name": "image", "shape": [None, 3, 16, 16]}]})
    with pytest.raises(ValueError, match=r"takes shape \[None, 16, 16, 3\], the source \[-1, 3, 16, 16\] "
                                         r"\(layout NCHW not preserved\)"):
        check_layout(spec, {"inputs": [{"name": "image", "shape": [None, 16, 16, 3]}]})


def test_calibration_rows_are_never_validation_rows():
    examples = {"x": np.arange(100, dtype=np.float32)[:, None]}
    split = split_examples(examples, np.arange(100))
    calib, valid = split.calibration["x"][:, 0], split.validation["x"][:, 0]
    # at least 300 calibration rows while half the examples stay for validation
    assert len(calib) == 50 and len(valid) == 50 and not set(calib) & set(valid)
    big = split_examples({"x": np.zeros((1000, 1), np.float32)}, None)
    assert len(big.calibration["x"]) == 300 and len(big.validation["x"]) == 700
    assert (split.labels == valid).all()
    small = split_examples({"x": examples["x"][:5]}, None)
    assert len(small.validation["x"]) == len(small.calibration["x"]) == 5 and "use all of them" in small.split
