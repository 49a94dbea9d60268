import numpy as np
import pytest

from rosetta.core.spec import ModelSpec, TensorSpec
from rosetta.exporters.gates import DEFAULT, Thresholds, is_quantized, parity

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


def test_every_output_is_compared_and_a_regressor_is_held_to_cosine_and_sqnr_in_int8(case):
    source, _ = case
    value = np.random.default_rng(1).normal(size=(1000, 3)).astype(np.float32)
    result = parity("onnx", {"p": source, "v": value + 2e-5}, {"p": source, "v": value}, TWO)
    assert not result.passed and result.outputs["v"]["max_abs_diff"] > 1e-5
    assert result.accuracy is None and result.source_accuracy is None  # no labels, no accuracy
    noisy = value + np.random.default_rng(2).normal(scale=0.5, size=value.shape).astype(np.float32)
    int8 = parity("tflite-int8", {"p": source, "v": noisy}, {"p": source, "v": value}, TWO)
    assert not int8.passed and [f.split()[0] for f in int8.failures] == ["cosine[v]", "sqnr_db[v]"]
    assert int8.outputs["v"]["sqnr_db"] == pytest.approx(6.0, abs=0.3)  # noise at half the signal's RMS


def test_non_finite_or_misshapen_output_is_an_error(case):
    source, labels = case
    bad = source.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        parity("onnx", {"p": bad}, {"p": source}, SPEC, labels)
    with pytest.raises(ValueError, match=r"shape \[1000, 5\], the source \[1000, 10\]"):
        parity("onnx", {"p": source[:, :5]}, {"p": source}, SPEC, labels)


def _spec(kind: str, width: int = 6) -> ModelSpec:
    return ModelSpec("k", (TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("y", "FP32", (-1, width), kind=kind),))


def test_every_cell_records_every_metric_of_every_output(case):
    source, _ = case
    result = parity("onnx", {"p": source + 1e-6}, {"p": source}, SPEC)
    metrics = result.outputs["p"]
    assert set(metrics) == {"kind", "max_abs_diff", "sqnr_db", "cosine", "nrmse", "argmax_agreement"}
    assert metrics["kind"] == "probabilities" and metrics["cosine"] > 0.999999 and metrics["sqnr_db"] > 80
    exact = parity("onnx", {"p": source}, {"p": source}, SPEC).outputs["p"]
    assert exact["sqnr_db"] == 200.0 and exact["cosine"] == 1.0  # capped: a finite JSON number


def test_quantized_multilabel_output_is_held_to_label_f1():
    rng = np.random.default_rng(3)
    source = rng.random((500, 6)).astype(np.float32)
    near = source + rng.normal(scale=0.005, size=source.shape).astype(np.float32)  # flips labels near 0.5 only
    ok = parity("tflite-int8", {"y": near}, {"y": source}, _spec("multilabel"))
    assert ok.passed and 0.95 <= ok.outputs["y"]["label_f1"] < 1.0 and set(ok.gate) == {"label_f1[y]"}
    flipped = np.where(rng.random(source.shape) < 0.2, 1 - source, source)  # a fifth of the labels wrong
    bad = parity("tflite-int8", {"y": flipped}, {"y": source}, _spec("multilabel"))
    assert not bad.passed and bad.failures[0].startswith("label_f1[y] 0.")


def test_quantized_embedding_is_held_to_cosine_and_sqnr_and_gates_can_be_overridden():
    rng = np.random.default_rng(4)
    source = rng.normal(size=(300, 32)).astype(np.float32)
    noisy = source + rng.normal(scale=0.2, size=source.shape).astype(np.float32)  # 14 dB, cosine 0.98
    result = parity("tflite-int8", {"y": noisy}, {"y": source}, _spec("embedding", 32))
    assert not result.passed and {f.split()[0] for f in result.failures} == {"cosine[y]", "sqnr_db[y]"}
    looser = DEFAULT.override({"cosine": 0.97, "sqnr_db": 12})
    assert parity("tflite-int8", {"y": noisy}, {"y": source}, _spec("embedding", 32), thresholds=looser).passed
    # the float gate is max |diff| whatever the kind; and the kind's metric never gates a float cell
    assert not parity("onnx", {"y": noisy}, {"y": source}, _spec("embedding", 32), thresholds=looser).passed


def test_thresholds_override_checks_names_and_quantized_formats_are_recognised():
    assert DEFAULT.override({"label_f1": 0.9}) == Thresholds(label_f1=0.9)
    with pytest.raises(ValueError, match="unknown gate.*valid: atol, argmax_agreement"):
        DEFAULT.override({"f1": 0.9})
    assert [f for f in ("onnx", "tflite-fp32", "tflite-int8", "tflite-int16x8", "onnx-fp16", "onnx-int8")
            if is_quantized(f)] == ["tflite-int8", "tflite-int16x8", "onnx-fp16", "onnx-int8"]
