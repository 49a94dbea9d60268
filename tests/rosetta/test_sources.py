"""Sources: the framework is detected, never asked; the spec of a user's model is read off the model itself."""
import numpy as np
import pytest

from rosetta.jax_function import JaxFunction
from rosetta.sources import SourceError, detect, infer_spec, load_source
from tests.byom import user_models


def test_framework_is_detected_from_the_object():
    assert detect(user_models.torch_nchw_classifier(), "t").lane == "torch"
    assert detect(user_models.keras_two_io(), "k").lane == "keras"
    jax_source = detect(user_models.jax_cnn(), "j")
    assert jax_source.lane == "jax" and isinstance(jax_source.model, JaxFunction)
    with pytest.raises(SourceError, match="returned a builtins.dict"):
        detect(user_models.not_a_model(), "tests.byom.user_models:not_a_model")


def test_factory_sources_load_and_bad_sources_say_why(tmp_path):
    assert load_source("tests.byom.user_models:jax_cnn").lane == "jax"
    for text, message in [("no.such.module:f", "cannot import"), ("tests.byom.user_models:missing", "cannot import"),
                          ("tests.byom.user_models:SEED", "not callable"), (str(tmp_path / "m.onnx"), "no such file"), (str(tmp_path / "m.tflite"), "unknown source"),
                          (str(tmp_path / "absent.keras"), "no such file")]:
        with pytest.raises(SourceError, match=message):
            load_source(text)
    corrupt = tmp_path / "corrupt.pt2"
    corrupt.write_bytes(b"not a zip")
    with pytest.raises(SourceError, match="not a torch.export program"):
        load_source(str(corrupt))
    corrupt_keras = tmp_path / "corrupt.keras"
    corrupt_keras.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SourceError, match="not a loadable Keras 3 model"):
        load_source(str(corrupt_keras))


def test_spec_of_a_two_input_keras_model_uses_its_own_names():
    source = detect(user_models.keras_two_io(), "k")
    examples = user_models.keras_two_io_examples(10)
    spec, named = infer_spec(source, "two", dict(reversed(list(examples.items()))))
    assert spec.input_names == ["tabular", "image"]  # the model's order, not the file's
    assert [(t.name, t.shape, t.layout) for t in spec.inputs] == [("tabular", (-1, 8), None),
                                                                   ("image", (-1, 6, 6, 2), "NHWC")]
    assert [(t.name, t.shape, t.kind) for t in spec.outputs] == [("label", (-1, 3), "probabilities"),
                                                                  ("score", (-1, 1), "regression")]
    outputs = source.predict(spec, named)
    assert outputs["label"].shape == (10, 3) and np.allclose(outputs["label"].sum(1), 1, atol=1e-5)


def test_spec_of_a_torch_model_names_its_input_after_forward():
    source = detect(user_models.torch_nchw_classifier(), "t")
    spec, _ = infer_spec(source, "nchw", user_models.torch_nchw_examples(4))
    assert spec.to_json()["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 3, 16, 16],
                                         "layout": "NCHW"}]
    assert spec.outputs[0].kind == "probabilities"


def test_misnamed_example_inputs_are_refused():
    source = detect(user_models.keras_two_io(), "k")
    examples = user_models.keras_two_io_examples(4)
    with pytest.raises(Exception, match="name the .npz arrays after the model's inputs"):
        infer_spec(source, "two", {"x": examples["tabular"], "y": examples["image"]})
