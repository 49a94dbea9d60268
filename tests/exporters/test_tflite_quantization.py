"""Quantized TFLite on small real Keras models: per-channel weights read from the flatbuffer, the selective search
keeping the layer that cannot be int8 in float, the default delegate's refusal handled, all-float refused, and the
int16x8 and dynamic-range cells validated in LiteRT."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from rosetta.core.spec import ModelSpec, TensorSpec  # noqa: E402
from rosetta.exporters import tflite_quantization as tq  # noqa: E402


def model(crushed: bool):
    """Dense -> Dense softmax. `crushed`: every output channel of the first layer also weighs input feature 0
    by 1000, a feature that is always 0 in the data: harmless in float, but each channel's int8 scale is set by
    that weight and every other weight of the layer rounds to 0."""
    keras.utils.set_random_seed(0)
    x = keras.Input((32,), name="features")
    h = keras.layers.Dense(64, activation="relu", name="mixer")(x)
    m = keras.Model(x, keras.layers.Dense(3, activation="softmax", name="probs")(h))
    k, b = m.get_layer("mixer").get_weights()
    if crushed:
        k[0] = 1000.0
    m.get_layer("mixer").set_weights([k, b])
    k, b = m.get_layer("probs").get_weights()
    m.get_layer("probs").set_weights([k * 30.0, b])  # confident predictions: argmax ties are not measured
    return m


def rows(n: int = 1000) -> np.ndarray:
    x = np.random.default_rng(0).normal(size=(n, 32)).astype("float32")
    x[:, 0] = 0.0
    return x


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import rosetta

    out = tmp_path_factory.mktemp("quant")
    entries = rosetta.export(model(crushed=True), rows(), name="crushed", artifacts=out, log=lambda e: None,
                             formats=["tflite-int8"])
    entries += rosetta.export(model(crushed=False), rows(), name="plain", artifacts=out, log=lambda e: None,
                              formats=["tflite-int16x8", "tflite-dynamic-int8"])
    return {e.format: e for e in entries}, out


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    sm = tmp_path_factory.mktemp("sm") / "savedmodel"
    model(crushed=True).export(str(sm), verbose=False)
    sig = tf.saved_model.load(str(sm)).signatures["serving_default"]
    (iname,), (oname,) = list(sig.structured_input_signature[1]), list(sig.structured_outputs)
    spec = ModelSpec("crushed", (TensorSpec(iname, "FP32", (-1, 32)),),
                     (TensorSpec(oname, "FP32", (-1, 3), kind="probabilities"),))
    calib = {iname: rows(300)}
    return tq.calibrate(Path(sm), spec, calib)[0], spec, calib


def test_search_keeps_the_crushed_layer_float_and_the_int8_cell_passes(exported):
    entries, _ = exported
    e = entries["tflite-int8"]
    q = e.converter["notes"][e.format]["quantization"]
    assert e.status == "ok", (e.error, e.parity and e.parity.failures)
    assert q["mode"] == "full-int8" and q["calibration_rows"] == 300 and q["calibration_batch"] == 32
    assert len(q["float_layers"]) == 1 and "mixer" in q["float_layers"][0] and q["quantized_ops"] >= 2
    assert q["conversions"] > 1 and "agreement" in q["search"]["reason"]
    assert q["delegate"]["runs"] and q["delegate"]["batches"] == [1, 16]
    assert e.runtime["delegated_nodes"] >= 1  # validated with XNNPACK applied
    assert e.parity.argmax_agreement >= 0.99


def test_per_channel_weights_are_read_from_the_flatbuffer(exported, calibrated):
    entries, out = exported
    assert tq.weight_quantization(tq.quantize(calibrated[0])) == {
        "per_channel": True, "weights": {"per_channel": 2, "per_tensor": 0, "float": 0}}
    # the same reader sees per-tensor weights when the quantizer is told so (it can fail)
    from tensorflow.lite.python import convert

    per_tensor = convert.mlir_quantize(calibrated[0], disable_per_channel=True, input_data_type=tf.int8,
                                       output_data_type=tf.int8)
    report = tq.weight_quantization(per_tensor)
    assert report["per_channel"] is False and report["weights"]["per_tensor"] == 2


def test_int16x8_and_dynamic_cells_validate_in_litert(exported):
    entries, _ = exported
    for fmt, mode in (("tflite-int16x8", "int16x8"), ("tflite-dynamic-int8", "dynamic-int8")):
        e = entries[fmt]
        assert e.status == "ok", (fmt, e.error, e.parity and e.parity.failures)
        assert e.converter["notes"][e.format]["quantization"]["mode"] == mode and e.parity.argmax_agreement >= 0.99
    assert entries["tflite-int16x8"].converter["notes"]["tflite-int16x8"]["quantization"]["quantized_ops"] >= 1
    assert entries["tflite-dynamic-int8"].converter["notes"]["tflite-dynamic-int8"]["quantization"]["weights"]["per_channel"] >= 1


def test_an_all_float_int8_model_fails(calibrated, tmp_path):
    cal, spec, calib = calibrated
    search = tq.Search(cal, spec, calib)
    every = tq.quantize(cal, tuple(search.layers))
    assert tq.op_precisions(every)["quantized"] == []
    with pytest.raises(tq.QuantizationError, match="no layer is left quantized"):
        tq._finish(every, tmp_path / "m.tflite", {"mode": "full-int8"})
    assert not (tmp_path / "m.tflite").exists()


def test_a_delegate_refusal_is_bisected_to_its_layer_or_fails_with_the_message(calibrated, monkeypatch):
    """The delegate stand-in refuses any model in which the named layer is int8 (no small model that the real
    XNNPACK refuses is at hand); the bisection must find that layer and return a model that runs."""
    cal, spec, calib = calibrated
    search = tq.Search(cal, spec, calib)
    blocker = next(layer for layer in search.layers if "probs" in layer)
    real = tq.delegate_check

    def refusing(buf, spec_, rows_):
        if blocker in tq.op_precisions(buf)["quantized"]:
            return {"error": "Node number 3 (TfLiteXNNPackDelegate) failed to prepare."}
        return real(buf, spec_, rows_)
    monkeypatch.setattr(tq, "delegate_check", refusing)
    first = search.candidate(())
    assert "failed to prepare" in first["error"]
    assert search.unblock((), first["error"]) == (blocker,)

    monkeypatch.setattr(tq, "delegate_check", lambda *a: {"error": "Node number 3 failed to prepare."})
    with pytest.raises(tq.QuantizationError, match="failed to prepare.*every layer float is refused too"):
        search.unblock((), "Node number 3 failed to prepare.")
