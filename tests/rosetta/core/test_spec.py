"""The model spec: OIP-style tensors, checked on construction and against arrays, round-tripped as JSON."""
import numpy as np
import pytest

from rosetta import contract
from rosetta.core.spec import ModelSpec, SpecError, TensorSpec, check_model_name


def _spec() -> ModelSpec:
    return ModelSpec("two", (TensorSpec("a", "FP32", (-1, 3, 8, 8), layout="NCHW"), TensorSpec("b", "INT64", (-1, 4))),
                     (TensorSpec("scores", "FP32", (-1, 5), kind="logits"), TensorSpec("value", "FP32", (-1,))))


def test_json_round_trip_is_the_oip_metadata_shape():
    spec = _spec()
    raw = spec.to_json()
    assert raw["inputs"][0] == {"name": "a", "datatype": "FP32", "shape": [-1, 3, 8, 8], "layout": "NCHW"}
    assert raw["outputs"][1] == {"name": "value", "datatype": "FP32", "shape": [-1]}
    assert ModelSpec.from_json(raw) == spec
    assert spec.classifier_output.name == "scores" and spec.input("b").dtype == np.int64


def test_builtin_specs_are_data():
    assert contract.MNIST_CNN.to_json()["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10], "kind": "probabilities"}]
    assert contract.MNIST_MLP.renamed("mnist-mlp-jax").name == "mnist-mlp-jax"


@pytest.mark.parametrize("kwargs, message", [
    ({"datatype": "FLOAT"}, "unknown datatype"),
    ({"shape": (3, 8)}, "must start with the batch dimension"),
    ({"shape": (-1, 0)}, "positive sizes"),
    ({"layout": "NCHW"}, "does not match rank"),
    ({"kind": "boxes"}, "unknown kind"),
    ({"name": ""}, "non-empty"),
])
def test_malformed_tensor_is_refused_with_a_reason(kwargs, message):
    with pytest.raises(SpecError, match=message):
        TensorSpec(**{"name": "x", "datatype": "FP32", "shape": (-1, 8), **kwargs})


def test_malformed_model_is_refused():
    x = TensorSpec("x", "FP32", (-1, 2))
    with pytest.raises(SpecError, match="unique"):
        ModelSpec("m", (x,), (x,))
    with pytest.raises(SpecError, match="at least one"):
        ModelSpec("m", (x,), ())
    with pytest.raises(SpecError, match="needs name, inputs and outputs"):
        ModelSpec.from_json({"name": "m", "inputs": []})
    for bad in ("", "../etc", "a/b", "-x", "x" * 101, "sp ace"):
        with pytest.raises(SpecError, match="model name"):
            check_model_name(bad)


def test_arrays_are_checked_by_name_dtype_shape_and_batch():
    spec = _spec()
    good = {"a": np.zeros((2, 3, 8, 8), np.float32), "b": np.zeros((2, 4), np.int64)}
    assert spec.check_inputs(good) == 2
    for bad, message in [
        ({**good, "b": np.zeros((2, 4), np.int32)}, "dtype int32, expected int64"),
        ({**good, "a": np.zeros((2, 8, 8, 3), np.float32)}, r"shape \[2, 8, 8, 3\], expected \[-1, 3, 8, 8\]"),
        ({"a": good["a"]}, "expected \\['a', 'b'\\]"),
        ({**good, "b": np.zeros((3, 4), np.int64)}, "disagree on the batch size"),
    ]:
        with pytest.raises(SpecError, match=message):
            spec.check_inputs(bad)


def test_like_describes_a_batch_of_examples():
    t = TensorSpec.like("x", np.zeros((7, 3, 4), np.uint8))
    assert (t.datatype, t.shape, t.static_shape) == ("UINT8", (-1, 3, 4), (None, 3, 4))
    with pytest.raises(SpecError, match="unsupported dtype"):
        TensorSpec.like("x", np.zeros((2, 2), np.complex64))
