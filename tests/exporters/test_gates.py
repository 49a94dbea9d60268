import numpy as np
import pytest

from exporters.gates import parity


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
    result = parity("onnx", source.copy(), source, labels)
    assert result["passed"] and result["max_abs_diff"] == 0.0 and result["accuracy"] == 0.98


def test_float_gate_fails_on_drift_and_says_by_how_much(case):
    source, labels = case
    result = parity("tflite-fp32", source + 3e-5, source, labels)
    assert not result["passed"] and result["argmax_agreement"] == 1.0
    (failure,) = result["failures"]
    assert failure.startswith("max_abs_diff 3") and failure.endswith("e-05 (needs <= 1e-05)")


def test_int8_gate_tolerates_small_drift_but_not_lost_accuracy(case):
    source, labels = case
    noisy = source + 0.01
    assert parity("tflite-int8", noisy, source, labels)["passed"]
    flipped = source.copy()
    flipped[20:40] = np.roll(flipped[20:40], 1, axis=1)  # 20 more wrong answers: -2 points, 98% agreement
    result = parity("tflite-int8", flipped, source, labels)
    assert not result["passed"] and len(result["failures"]) == 2


def test_non_finite_output_is_an_error(case):
    source, labels = case
    bad = source.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        parity("onnx", bad, source, labels)
