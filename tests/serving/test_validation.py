"""Client mistakes become InvalidInput with a message that names the tensor and says what to fix (no server)."""
import numpy as np
import orjson
import pytest
from kserve.errors import InvalidInput

from rosetta.core.spec import TensorSpec
from rosetta.serving.protocols.tensors import check_input, check_inputs, json_array, raw_array
from rosetta.serving.protocols.tfserving_rest import parse_predict_body
from tests.serving.tiny_models import CLASSIFIER, MULTI_IO

PIXELS = CLASSIFIER.inputs[0]  # FP32 [-1, 3, 4]
SEQUENCE, IDS = MULTI_IO.inputs  # FP32 [-1, -1, 4], INT64 [-1, 3]


@pytest.mark.parametrize("t, x, message", [
    (PIXELS, np.zeros((2, 3, 5), np.float32), r"'pixels' must have shape \[-1, 3, 4\], got \[2, 3, 5\]"),
    (PIXELS, np.zeros((3, 4), np.float32), r"got \[3, 4\]"),
    (PIXELS, np.zeros((0, 3, 4), np.float32), "empty batch: input 'pixels'"),
    (PIXELS, np.zeros((11, 3, 4), np.float32), "11 rows in input 'pixels' exceeds the limit of 10"),
    (PIXELS, np.zeros((1, 3, 4), np.float64), r"'pixels' must be FP32 \(float32\), got float64"),
    (PIXELS, np.full((1, 3, 4), np.nan, np.float32), "'pixels' contains NaN or infinite"),
    (SEQUENCE, np.full((1, 7, 4), -np.inf, np.float32), "'sequence' contains NaN or infinite"),
    (SEQUENCE, np.zeros((1, 7, 3), np.float32), r"'sequence' must have shape \[-1, -1, 4\]"),
    (IDS, np.zeros((1, 3), np.int32), r"'token_ids' must be INT64 \(int64\), got int32"),
])
def test_bad_inputs(t, x, message):
    with pytest.raises(InvalidInput, match=message):
        check_input(x, t, max_rows=10)


def test_good_inputs_pass_and_free_dimensions_take_any_size():
    for length in (1, 9):
        check_input(np.zeros((2, length, 4), np.float32), SEQUENCE, max_rows=10)
    check_input(np.full((2, 3), 2**40, np.int64), IDS, max_rows=10)  # no finiteness check on integers
    assert check_inputs({"sequence": np.zeros((2, 5, 4), np.float32), "token_ids": np.zeros((2, 3), np.int64)},
                        MULTI_IO.inputs, 10) == 2


def test_inputs_must_agree_on_the_batch_size():
    with pytest.raises(InvalidInput, match=r"disagree on the batch size.*'sequence': 2, 'token_ids': 3"):
        check_inputs({"sequence": np.zeros((2, 5, 4), np.float32), "token_ids": np.zeros((3, 3), np.int64)},
                     MULTI_IO.inputs, 10)


@pytest.mark.parametrize("t, value, message", [
    (PIXELS, [[1, 2], [3]], "not a rectangular array"),
    (PIXELS, [["a", "b"]], "only numbers"),
    (PIXELS, [[True, False]], "only numbers"),
    (PIXELS, [[None, 1.0]], "only numbers"),
    (PIXELS, [{"a": 1}], "only numbers"),
    (IDS, [[0.5, 1, 2]], r"\(INT64\) must hold only integers"),
    (IDS, [[2**63, 1, 2]], "only integers"),  # beyond int64: numpy keeps it as an object
    (TensorSpec("small", "INT32", (-1, 1)), [[2**31]], r"holds 2147483648, outside \[-2147483648, 2147483647\]"),
    (TensorSpec("mask", "BOOL", (-1, 2)), [[1, 0]], "only true/false"),
])
def test_json_values_that_do_not_fit_the_datatype(t, value, message):
    with pytest.raises(InvalidInput, match=message):
        json_array(value, t, f"input '{t.name}'")


def test_json_values_take_the_spec_dtype():
    assert json_array([[1e39]], PIXELS, "x").dtype == np.float32 and np.isinf(json_array([[1e39]], PIXELS, "x")).all()
    assert json_array([[1, 2, 3]], IDS, "x").dtype == np.int64
    assert json_array([[True, False]], TensorSpec("mask", "BOOL", (-1, 2)), "x").dtype == np.bool_
    assert json_array([], IDS, "x").dtype == np.int64  # empty: left to the shape checks


def test_raw_bytes_must_fill_the_shape():
    assert raw_array(np.arange(6, dtype="<i8").tobytes(), IDS, [2, 3], "input 'token_ids'").tolist() == [[0, 1, 2],
                                                                                                        [3, 4, 5]]
    with pytest.raises(InvalidInput, match=r"input 'token_ids': shape \[2, 3\] of INT64 needs 48 bytes"):
        raw_array(b"\0" * 40, IDS, [2, 3], "input 'token_ids'")


@pytest.mark.parametrize("spec, body, message", [
    (CLASSIFIER, b"{nope", "not valid JSON"),
    (CLASSIFIER, b"[1, 2]", "JSON object"),
    (CLASSIFIER, b"{}", "exactly one of 'instances'"),
    (CLASSIFIER, b'{"instances": [], "inputs": []}', "exactly one of 'instances'"),
    (CLASSIFIER, b'{"instances": 3}', "'instances' must be a list"),
    (CLASSIFIER, b'{"instances": [{"images": 1}]}', r"instance 0 must name exactly the inputs \['pixels'\]"),
    (CLASSIFIER, b'{"inputs": {"images": []}}', r"'inputs' must name exactly the inputs \['pixels'\]"),
    (CLASSIFIER, b'{"signature_name": "other", "instances": []}', "signature name 'other' not found"),
    (MULTI_IO, b'{"instances": [[1, 2]]}', "each instance must be an object naming every input"),
    (MULTI_IO, b'{"inputs": [[1, 2]]}', "'inputs' must be an object naming every input"),
    (MULTI_IO, b'{"instances": [{"sequence": [[0, 0, 0, 0]]}]}', "instance 0 must name exactly the inputs"),
])
def test_tf_predict_body_errors(spec, body, message):
    with pytest.raises(InvalidInput, match=message):
        parse_predict_body(body, spec)


@pytest.mark.parametrize("doc, row", [
    ({"instances": [[[0.5]]]}, True),
    ({"instances": [{"pixels": [[0.5]]}]}, True),
    ({"inputs": [[[0.5]]]}, False),
    ({"inputs": {"pixels": [[[0.5]]]}, "signature_name": "serving_default"}, False),
])
def test_tf_predict_body_forms_one_input(doc, row):
    values, row_format = parse_predict_body(orjson.dumps(doc), CLASSIFIER)
    assert row_format is row and np.asarray(values["pixels"]).tolist() == [[[0.5]]]


def test_tf_predict_body_forms_several_inputs():
    instances = [{"sequence": [[1] * 4], "token_ids": [1, 2, 3]}, {"token_ids": [4, 5, 6], "sequence": [[2] * 4]}]
    rows, row_format = parse_predict_body(orjson.dumps({"instances": instances}), MULTI_IO)
    assert row_format and rows == {"sequence": [[[1] * 4], [[2] * 4]], "token_ids": [[1, 2, 3], [4, 5, 6]]}
    columns, row_format = parse_predict_body(orjson.dumps({"inputs": rows}), MULTI_IO)
    assert not row_format and columns == rows
