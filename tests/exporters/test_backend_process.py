"""A converter run in a child process on another Keras backend: its failure fails the cell with the child's own
message (the end-to-end pipeline exercises the success path: every keras-jax / keras-torch SavedModel)."""
import numpy as np
import pytest

from rosetta.core.spec import ModelSpec, TensorSpec
from rosetta.exporters.backend_process import run_converter
from rosetta.exporters.context import ExportContext
from rosetta.sources import Source

SPEC = ModelSpec("tiny", (TensorSpec("x", "FP32", (-1, 3)),), (TensorSpec("y", "FP32", (-1, 2)),))


def test_child_failure_carries_the_childs_error(tmp_path):
    rows = {"x": np.zeros((2, 3), np.float32)}
    ctx = ExportContext(Source("keras-jax", None, "memory"), SPEC, rows, rows)
    expected = r"tensorflow backend \(child process\) exited 1: .*missing\.keras: no such file"
    with pytest.raises(RuntimeError, match=expected):
        run_converter("tensorflow", "tf_edges:keras_to_savedmodel", tmp_path / "missing.keras", tmp_path / "out", ctx)
    assert not (tmp_path / "out").exists()


def test_unknown_backend_is_refused_before_any_child_starts(tmp_path):
    rows = {"x": np.zeros((2, 3), np.float32)}
    ctx = ExportContext(Source("keras-jax", None, "memory"), SPEC, rows, rows)
    with pytest.raises(ValueError, match="unknown Keras backend 'mxnet'"):
        run_converter("mxnet", "tf_edges:keras_to_savedmodel", tmp_path / "m.keras", tmp_path / "out", ctx)
