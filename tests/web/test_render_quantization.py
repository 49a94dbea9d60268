from rosetta.web.render import quantization_text


def test_a_quantized_cell_shows_its_mode_and_float_layers():
    text = quantization_text({"mode": "full-int8", "per_channel": True, "calibration_rows": 300,
                              "float_layers": ["model/mixer/MatMul", "model/probs/MatMul"]})
    assert "full-int8" in text and "per-channel weights" in text and "300 rows" in text and "2 float layers" in text
    assert "no float layer" in quantization_text({"mode": "int16x8", "float_layers": []})
    assert quantization_text(None) == ""
