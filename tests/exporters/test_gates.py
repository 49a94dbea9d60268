import numpy as np
import pytest

from rosetta.core.spec import ModelSpec, TensorSpec
from rosetta.exporters.gates import parity

SPEC = ModelSpec("m", (TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("p", "FP32", (-1, 10), kind="probabilities"),))
TWO = ModelSpec("m2", (TensorSpec("x", "FP32", (-1, 4)),),
                (TensorSpec("p", "FP32", (-1, 10), kind="probabilities"), TensorSpec("v", "FP32", (-1, 3))))


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1000, 10)) * 4
    source = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    labels = source.argmax(1)
    labels[:20] = (labels[:20] + 1) % 10  # source accuracy 98%
    return source, labels


def test_identical_outputs_pass_the_float_gate(case):
    source, labels = case
    result = parity("onnx", {"p": source.copy()}, {"p": source}, SPEC, labels)
    assert result.passed and result.max_abs_diff == 0.0 and result.accuracy == 0.98


def test_float_gate_fails_on_drift_and_says_by_how_much(case):
    source, labels = case
    result = parity("tflite-fp32", {"p": source + 3e-5}, {"p": source}, SPEC, labels)
    assert not result.passed and result.argmax_agreement == 1.0
    (failure,) = result.failures
    assert failure.startswith("max_abs_diff 3") and failure.endswith("e-05 (needs <= 1e-05)")
    assert parity("tflite-fp32", {"p": source + 3e-5}, {"p": source}, SPEC, labels, atol=1e-4).passed


def test_int8_gate_tolerates_small_drift_but_not_lost_accuracy(case):
    source, labels = case
    assert parity("tflite-int8", {"p": source + 0.01}, {"p": source}, SPEC, labels).passed
    flipped = source.copy()
    flipped[20:40] = np.roll(flipped[20:40], 1, axis=1)  # 20 more wrong answers: -2 points, 98% agreement
    result = parity("tflite-int8", {"p": flipped}, {"p": source}, SPEC, labels)
    assert not result.passed and len(result.failures) == 2


def test_every_output_is_compared_and_a_regressor_is_held_to_nrmse_in_int8(case):
    source, _ = case
    value = np.random.default_rng(1).normal(size=(1000, 3)).astype(np.float32)
    result = parity("onnx", {"p": source, "v": value + 2e-5}, {"p": source, "v": value}, TWO)
    assert not result.passed and result.outputs["v"]["max_abs_diff"] > 1e-5
    assert result.accuracy is None and result.source_accuracy is None  # no labels, no accuracy
    noisy = value + np.random.default_rng(2).normal(scale=0.5, size=value.shape).astype(np.float32)
    int8 = parity("tflite-int8", {"p": source, "v": noisy}, {"p": source, "v": value}, TWO)
    assert not int8.passed and int8.failures[0].startswith("nrmse[v]")


def test_non_finite_or_misshapen_output_is_an_error(case):
    source, labels = case
    bad = source.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        parity("onnx", {"p": bad}, {"p": source}, SPEC, labels)
    with pytest.raises(ValueError, match=r"shape \[1000, 5\], the source \[1000, 10\]"):
        parity("onnx", {"p": source[:, :5]}, {"p": source}, SPEC, labels)
