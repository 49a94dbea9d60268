"""Client mistakes become InvalidInput with a message that says what to fix (no server process)."""
import numpy as np
import orjson
import pytest
from kserve.errors import InvalidInput

from serving.manifest import TensorSpec
from serving.tfserving_rest import parse_predict_body
from serving.validation import check_batch, numeric_array

IMAGES = TensorSpec("images", (None, 28, 28), "float32")


def ok(n: int = 2) -> np.ndarray:
    return np.zeros((n, 28, 28), np.float32)


@pytest.mark.parametrize("x, message", [
    (np.zeros((2, 28, 27), np.float32), r"shape \[-1, 28, 28\], got \[2, 28, 27\]"),
    (np.zeros((28, 28), np.float32), r"got \[28, 28\]"),
    (np.zeros((0, 28, 28), np.float32), "empty batch"),
    (np.zeros((11, 28, 28), np.float32), "11 rows exceeds the limit of 10"),
    (np.zeros((1, 28, 28), np.float64), "must be float32"),
    (np.full((1, 28, 28), np.nan, np.float32), "NaN or infinite"),
    (np.full((1, 28, 28), -np.inf, np.float32), "NaN or infinite"),
])
def test_bad_batches(x, message):
    with pytest.raises(InvalidInput, match=message):
        check_batch(x, IMAGES, max_rows=10)


def test_good_batch_passes_unchanged():
    x = ok()
    assert check_batch(x, IMAGES, max_rows=10) is x


@pytest.mark.parametrize("value, message", [
    ([[1, 2], [3]], "not a rectangular array"),
    ([["a", "b"]], "only numbers"),
    ([[True, False]], "only numbers"),
    ([[None, 1.0]], "only numbers"),
    ([{"a": 1}], "only numbers"),
])
def test_numeric_array_refuses_non_numbers(value, message):
    with pytest.raises(InvalidInput, match=message):
        numeric_array(value, "input 'images'")


def test_numeric_array_overflow_becomes_inf_for_the_finite_check():
    x = numeric_array([[1e39]], "x")
    assert x.dtype == np.float32 and np.isinf(x).all()


@pytest.mark.parametrize("body, message", [
    (b"{nope", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b"{}", "exactly one of 'instances'"),
    (b'{"instances": [], "inputs": []}', "exactly one of 'instances'"),
    (b'{"instances": 3}', "'instances' must be a list"),
    (b'{"instances": [{"pixels": 1}]}', "exactly the key 'images'"),
    (b'{"inputs": {"pixels": []}}', "name exactly the input 'images'"),
    (b'{"signature_name": "other", "instances": []}', "signature name 'other' not found"),
])
def test_tf_predict_body_errors(body, message):
    with pytest.raises(InvalidInput, match=message):
        parse_predict_body(body, "images")


@pytest.mark.parametrize("doc, row", [
    ({"instances": [[[0.5]]]}, True),
    ({"instances": [{"images": [[0.5]]}]}, True),
    ({"inputs": [[[0.5]]]}, False),
    ({"inputs": {"images": [[[0.5]]]}, "signature_name": "serving_default"}, False),
])
def test_tf_predict_body_forms(doc, row):
    value, row_format = parse_predict_body(orjson.dumps(doc), "images")
    assert row_format is row and np.asarray(value).tolist() == [[[0.5]]]
