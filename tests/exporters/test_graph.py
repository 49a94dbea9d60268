import subprocess
import sys

import pytest

from rosetta import contract
from rosetta.exporters.graph import EDGES, NODES, describe, plan


def test_matrix_has_61_cells_with_the_documented_routes():
    routes = {(lane, fmt): describe(path) for lane in contract.LANES for fmt, path in plan(lane).items()}
    assert len(routes) == 61
    assert set(plan("torch")) == set(contract.FORMATS) - {"savedmodel-xla"}
    assert set(plan("keras")) == set(contract.FORMATS) - {"torchscript", "pt2", "executorch", "savedmodel-xla"}
    assert set(plan("jax")) == set(contract.FORMATS) - {"torchscript", "pt2", "executorch"}
    assert routes["keras", "onnx"] == "keras -> savedmodel -> onnx"
    assert routes["torch", "tflite-int8"] == "torch -> onnx -> savedmodel -> tflite-int8"
    # jax2tf's XlaCallModule SavedModel is its own format; TF Serving, TFLite and TF.js get plain TF ops the
    # way a torch model's do (see exporters/graph.py), so the JAX lane's files match the other lanes'.
    assert routes["jax", "savedmodel-xla"] == "jax -> savedmodel-xla"
    for fmt in ("savedmodel", "tflite-fp32", "tflite-int8", "tfjs"):
        assert routes["jax", fmt] == routes["torch", fmt].replace("torch", "jax")
    # Keras on JAX and PyTorch: the keras lane's routes after its SavedModel (the .keras file re-loaded on the
    # TensorFlow backend), plus Keras' own torch.export on the torch backend.
    for lane in ("keras-jax", "keras-torch"):
        assert {f: r for (l, f), r in routes.items() if l == lane and f not in ("pt2", "executorch")} == \
            {f: r.replace("keras", lane) for (l, f), r in routes.items() if l == "keras"}
    assert set(plan("keras-torch")) == set(plan("keras")) | {"pt2", "executorch"}
    assert routes["keras-torch", "pt2"] == "keras-torch -> pt2"


def test_every_edge_connects_known_nodes_and_resolves_its_converter():
    for edge in EDGES:
        assert edge.src in NODES and edge.dst in NODES
        assert edge.convert.ref.split(":")[0].endswith("_edges")
        assert callable(edge.convert.load()), edge.convert.ref


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rosetta.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_unknown_format_lists_valid_formats():
    proc = _cli("export", "--format", "coreml")
    assert proc.returncode == 2
    assert "invalid choice: 'coreml'" in proc.stderr and "tflite-int8" in proc.stderr


@pytest.mark.parametrize("lane", ["keras", "jax"])
def test_format_a_lane_does_not_reach_is_refused(lane, tmp_path):
    proc = _cli("--out", str(tmp_path), "export", "--lane", lane, "--format", "torchscript")
    assert proc.returncode == 2
    assert f"not exported for lane '{lane}'" in proc.stderr and "tflite-int8" in proc.stderr
