"""Dimensions beyond the batch: a sequence model exported with a free sequence length keeps it in every format that
can carry it, validated at two lengths; a .pt2 exported with a ranged batch Dim passes its own pt2 cell and its
ranges reach the spec; the server takes every size the spec allows and answers 400 for the rest."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import rosetta
from rosetta.core.spec import ModelSpec, SpecError, TensorSpec, batch_chunks
from rosetta.exporters import onnx_edges
from rosetta.serving.protocols.tensors import check_input

FORMATS = ["onnx", "pt2", "torchscript", "savedmodel", "tflite-fp32", "tfjs"]


class SequenceClassifier(torch.nn.Module):
    """[N, T, 4] -> per-step Linear + GELU -> mean over T -> softmax: any T gives an answer."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.step = torch.nn.Linear(4, 8)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, steps: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(torch.relu(self.step(steps)).mean(dim=1)) * 4.0, dim=-1)


def _steps(n: int, length: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, length, 4)).astype(np.float32)


def test_free_sequence_length_is_kept_and_validated_at_two_lengths(tmp_path, monkeypatch):
    # Weights in an external data file, as a model over 2 GB gets them: ONNX Runtime, onnx2tf and the server
    # must each read the file beside model.onnx.
    monkeypatch.setattr(onnx_edges, "EXTERNAL_DATA_BYTES", 0)
    entries = rosetta.export(SequenceClassifier(), {"steps": _steps(24, 12)}, name="seq-model", formats=FORMATS,
                             artifacts=tmp_path, dynamic={"steps": {1: (2, 64)}})
    by_format = {e.format: e for e in entries}
    assert set(by_format) == set(FORMATS)
    for e in entries:
        assert e.spec.inputs[0].shape == (-1, -1, 4) and e.spec.inputs[0].ranges == (None, (2, 64), None)
        assert e.ok, f"{e.format}: {e.why()}"
        assert e.resources["peak_rss_bytes"] > 0 and e.resources["seconds"] > 0
        assert e.shapes["free_axes"] == {"steps": [1]}
        if "static" in e.shapes:  # a format that cannot carry the axis says which shape it got
            assert e.format in ("torchscript",), f"{e.format} fixed the sequence length: {e.shapes}"
            continue
        assert e.shapes["validated"] == {"steps": [[12, 4], [9, 4]]}, e.format
        assert e.shapes["second_size"]["passed"] is True
    carried = {e.format for e in entries if "static" not in e.shapes}
    assert {"onnx", "pt2", "savedmodel", "tflite-fp32", "tfjs"} <= carried
    onnx_entry = by_format["onnx"]
    assert [f["path"] for f in onnx_entry.files] == ["model.onnx", "model.onnx.data"]
    _serve_at_two_lengths(tmp_path)


def _serve_at_two_lengths(artifacts):
    """The ORT server's model loader on the external-data ONNX: hash-checked, loaded, answering both lengths."""
    import asyncio

    from rosetta.core.manifest import served
    from rosetta.serving.runtime.model import OnnxModel
    from rosetta.serving.runtime.repository import stage_version
    from rosetta.serving.server.config import ServeConfig

    (version,) = served(artifacts, "onnx").versions
    model = OnnxModel(version, stage_version(version, artifacts / "repo"), ServeConfig(batching=False))
    model.load()
    reference = SequenceClassifier().eval()
    for length in (12, 40):
        x = _steps(3, length)
        out = asyncio.run(model.infer({"steps": x}))["output"]
        np.testing.assert_allclose(out, reference(torch.from_numpy(x)).detach().numpy(), atol=1e-5)
    model.stop()


def test_ranged_pt2_batch_dim_passes_its_own_cell_and_reaches_the_spec(tmp_path):
    module = SequenceClassifier().eval()
    batch, length = torch.export.Dim("batch", min=2, max=1024), torch.export.Dim("length", min=2, max=32)
    program = torch.export.export(module, (torch.from_numpy(_steps(4, 8)),),
                                  dynamic_shapes=({0: batch, 1: length},))
    path = tmp_path / "ranged.pt2"
    torch.export.save(program, str(path))
    # 21 validation rows would end in a 1-row chunk with a chunk size of 20: the chunks respect min=2
    assert batch_chunks(ModelSpec("m", (TensorSpec("x", "FP32", (-1, 4), ranges=((2, 20), None)),),
                                  (TensorSpec("y", "FP32", (-1, 2)),)), 21, 1000)[-1] == (10, 21)
    entries = rosetta.export(str(path), {"steps": _steps(20, 8)}, name="ranged", formats=["pt2", "onnx"],
                             artifacts=tmp_path / "out")
    for e in entries:
        assert e.ok, f"{e.format}: {e.why()}"
        assert e.spec.inputs[0].ranges == ((2, 1024), (2, 32), None)
        assert e.shapes["validated"]["steps"] == [[8, 4], [6, 4]]


@pytest.mark.parametrize("shape, ok", [((2, 12, 4), True), ((1, 12, 4), False), ((2, 65, 4), False),
                                       ((2, 2, 4), True), ((2, 1, 4), False)])
def test_server_takes_every_size_the_spec_allows_and_refuses_the_rest(shape, ok):
    from kserve.errors import InvalidInput

    t = TensorSpec("steps", "FP32", (-1, -1, 4), ranges=((2, 1024), (2, 64), None))
    assert TensorSpec.from_json(t.to_json()) == t
    x = np.zeros(shape, np.float32)
    if ok:
        check_input(x, t, max_rows=1024)
    else:
        with pytest.raises(InvalidInput, match="the model takes"):
            check_input(x, t, max_rows=1024)


def test_ranges_only_on_free_axes():
    with pytest.raises(SpecError, match="fixed size 4"):
        TensorSpec("x", "FP32", (-1, 4), ranges=(None, (1, 8)))
    with pytest.raises(SpecError, match="1 <= min <= max"):
        TensorSpec("x", "FP32", (-1, -1), ranges=(None, (8, 2)))


class TinyConv(torch.nn.Module):
    """NCHW images of any height/width -> conv -> global average pool -> softmax."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.head = torch.nn.Linear(6, 4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(torch.relu(self.conv(images)).mean(dim=(2, 3))) * 4.0, dim=-1)


def test_free_image_height_width_kept_by_onnx_and_recorded_static_where_a_format_fixes_them(tmp_path):
    images = np.random.default_rng(1).normal(size=(12, 3, 16, 20)).astype(np.float32)
    entries = rosetta.export(TinyConv(), {"images": images}, name="conv-hw", formats=["onnx", "savedmodel"],
                             artifacts=tmp_path, dynamic={"images": {2: (8, 64), 3: (8, 64)}})
    by_format = {e.format: e for e in entries}
    assert all(e.ok for e in entries), [e.why() for e in entries]
    assert by_format["onnx"].shapes["validated"] == {"images": [[3, 16, 20], [3, 12, 15]]}
    # onnx2tf cannot carry a free image height/width: the SavedModel is fixed at the examples' size, and says so
    assert by_format["savedmodel"].shapes["static"] == {"images": [None, 3, 16, 20]}
    assert "validated" not in by_format["savedmodel"].shapes
