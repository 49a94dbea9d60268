"""Failure handling: a failing converter leaves no half artifact, fails only its cells, and says why."""
import numpy as np
import pytest

from exporters import graph
from exporters.pipeline import export_lane
from models import lane


@pytest.fixture
def torch_lane_dir(tmp_path):
    """An untrained torch model is enough: parity compares each artifact with its own source."""
    torch_lane = lane("torch")
    torch_lane.save(torch_lane.build(), tmp_path / "torch")
    return tmp_path


def test_failing_converter_leaves_no_half_artifact_and_others_run(torch_lane_dir, train_split, test_split,
                                                                  monkeypatch):
    (torch_lane_dir / "torch" / "torchscript").mkdir()
    (torch_lane_dir / "torch" / "torchscript" / "model.pt").write_bytes(b"previous good artifact")

    def half_written_then_crash(src, dst, ctx):
        dst.write_bytes(b"partial")
        raise RuntimeError("converter exploded")

    real_convert = graph.Edge.convert

    def convert(self, src, dst, ctx):
        return (half_written_then_crash if self.dst == "torchscript" else real_convert.__get__(self))(src, dst, ctx)

    monkeypatch.setattr(graph.Edge, "convert", convert)
    entries = export_lane("torch", ["onnx", "torchscript", "pt2"], torch_lane_dir, train_split.head(100),
                          test_split.head(500), log=lambda e: None)
    status = {e["format"]: e["status"] for e in entries}
    assert status == {"onnx": "ok", "torchscript": "failed", "pt2": "ok"}
    failed = next(e for e in entries if e["format"] == "torchscript")
    assert "converter exploded" in failed["error"]
    # The previous artifact is untouched and no temp dirs are left behind.
    assert (torch_lane_dir / "torch" / "torchscript" / "model.pt").read_bytes() == b"previous good artifact"
    assert not [p for p in (torch_lane_dir / "torch").iterdir() if p.name.startswith(".")]


def test_drifting_runtime_fails_the_gate_with_the_numbers(torch_lane_dir, train_split, test_split, monkeypatch):
    from exporters.runtimes import RUNTIMES, Runtime

    original = RUNTIMES["onnx"]
    drifting = Runtime(original.name, original.distribution, None, original.signature,
                       batch_run=lambda path, images: original.run(path, images) + np.float32(1e-4))
    monkeypatch.setitem(RUNTIMES, "onnx", drifting)
    (entry,) = export_lane("torch", ["onnx"], torch_lane_dir, train_split.head(100), test_split.head(500),
                           log=lambda e: None)
    assert entry["status"] == "gate-failed"
    assert entry["parity"]["failures"][0].startswith("max_abs_diff 0.0001")
