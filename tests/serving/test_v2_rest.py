"""The direct v2 JSON decoder (serving.protocols.v2_rest.py) against kserve's pydantic path on the live server:
the same answer for valid requests, the same status and message for invalid ones. A request takes kserve's
path when it has anything beyond the plain form, e.g. an extra top-level field, which pydantic ignores."""
import httpx
import numpy as np
import orjson
import pytest

from benchmarks.serving.clients import JSON, V2Rest, example_inputs
from rosetta.serving.protocols.v2_rest import plain_request
from tests.serving.conftest import MODELS
from tests.serving.tiny_models import CLASSIFIER, MULTI_IO


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        yield client


def _tensors(x: dict) -> list[dict]:
    return [{"name": n, "datatype": {"f": "FP32", "i": "INT64"}[a.dtype.kind], "shape": list(a.shape),
             "data": a.ravel().tolist()} for n, a in x.items()]


def _both(http: httpx.Client, path: str, doc: dict) -> tuple[httpx.Response, httpx.Response]:
    """(the direct path's answer, kserve's answer) for the same request."""
    plain = orjson.dumps(doc)
    assert plain_request(plain) is not None, doc
    via_kserve = orjson.dumps({**doc, "routed_to_kserve": True})
    assert plain_request(via_kserve) is None
    return (http.post(path, content=plain, headers=JSON), http.post(path, content=via_kserve, headers=JSON))


def test_plain_form_is_recognised_and_everything_else_is_left_to_kserve():
    tensor = {"name": "a", "datatype": "FP32", "shape": [1, 2], "data": [1.0, 2.0]}
    assert plain_request(orjson.dumps({"inputs": [tensor], "id": "x", "outputs": [{"name": "y"}]})) is not None
    for doc in ({"inputs": [tensor], "parameters": {"binary_data_output": True}},
                {"inputs": [{**tensor, "parameters": {}}]},
                {"inputs": [{**tensor, "shape": [1.0, 2]}]},
                {"inputs": [{**tensor, "shape": [True, 2]}]},
                {"inputs": [{**tensor, "shape": ["1", 2]}]},
                {"inputs": [{k: v for k, v in tensor.items() if k != "data"}]},
                {"inputs": [{**tensor, "name": 3}]},
                {"inputs": [tensor], "id": 7},
                {"inputs": [tensor], "outputs": [{"name": "y", "parameters": {"binary_data": True}}]},
                {"inputs": tensor}, {"outputs": []}, [tensor]):
        assert plain_request(orjson.dumps(doc)) is None, doc
    for body in (b"", b"{", b'{"inputs": [NaN]}', b"\xff"):
        assert plain_request(body) is None, body


@pytest.mark.parametrize("model", MODELS)
def test_valid_requests_get_the_answer_kserve_gives(http, specs, model):
    spec = specs[model]
    x = example_inputs(spec, 3, seed=11)
    for extra in ({}, {"id": "req-1"}, {"outputs": [{"name": n} for n in reversed(spec.output_names)]}):
        fast, slow = _both(http, V2Rest.path(model), {"inputs": _tensors(x), **extra})
        assert fast.status_code == slow.status_code == 200, (fast.text, slow.text)
        assert fast.headers["content-type"] == slow.headers["content-type"]
        a, b = fast.json(), slow.json()
        assert list(a) == list(b) and [list(o) for o in a["outputs"]] == [list(o) for o in b["outputs"]]
        assert {k: v for k, v in a.items() if k != "outputs"} == {k: v for k, v in b.items() if k != "outputs"}
        got, want = V2Rest.decode(fast.content), V2Rest.decode(slow.content)
        for name in want:
            assert got[name].dtype == want[name].dtype
            np.testing.assert_array_equal(got[name], want[name])  # float32 written shortest, same float32


def _invalid_cases() -> list[tuple[str, str, dict]]:
    x = example_inputs(CLASSIFIER, 2)
    good = _tensors(x)
    multi = _tensors(example_inputs(MULTI_IO, 2))
    path, mpath = V2Rest.path(CLASSIFIER.name), V2Rest.path(MULTI_IO.name)
    first = good[0]
    return [
        ("unknown model", V2Rest.path("no-such-model"), {"inputs": good}),
        ("unknown version", V2Rest.path(CLASSIFIER.name, 99), {"inputs": good}),
        ("wrong datatype", path, {"inputs": [{**first, "datatype": "INT64"}]}),
        ("unknown datatype", path, {"inputs": [{**first, "datatype": "FLOAT"}]}),
        ("negative dim", path, {"inputs": [{**first, "shape": [-2, 3, 4]}]}),
        ("count mismatch", path, {"inputs": [{**first, "shape": [3, 3, 4]}]}),
        ("spec shape", path, {"inputs": [{**first, "shape": [2, 12], "data": first["data"]}]}),
        ("strings", path, {"inputs": [{**first, "data": ["a"] * len(first["data"])}]}),
        ("nulls", path, {"inputs": [{**first, "data": [None] * len(first["data"])}]}),
        ("ragged", path, {"inputs": [{**first, "data": [[1.0], [1.0, 2.0]]}]}),
        ("empty batch", path, {"inputs": [{**first, "shape": [0, 3, 4], "data": []}]}),
        ("too many rows", path, {"inputs": [{**first, "shape": [1001, 3, 4], "data": [0.5] * 12012}]}),
        ("huge float", path, {"inputs": [{**first, "data": [1e300] * len(first["data"])}]}),
        ("renamed input", path, {"inputs": [{**first, "name": "other"}]}),
        ("repeated input", path, {"inputs": [first, first]}),
        ("no inputs", path, {"inputs": []}),
        ("unknown output", path, {"inputs": good, "outputs": [{"name": "nope"}]}),
        ("repeated output", path, {"inputs": good, "outputs": [{"name": "scores"}, {"name": "scores"}]}),
        ("missing input", mpath, {"inputs": multi[:1]}),
        ("fraction for int", mpath, {"inputs": [multi[0], {**multi[1], "data": [0.5] * len(multi[1]["data"])}]}),
        ("int out of range", mpath, {"inputs": [multi[0], {**multi[1], "data": [2**63] * 6}]}),
        ("batch disagreement", mpath, {"inputs": [multi[0], {**multi[1], "shape": [1, 3],
                                                            "data": multi[1]["data"][:3]}]}),
    ]


@pytest.mark.parametrize("case", _invalid_cases(), ids=lambda c: c[0])
def test_invalid_requests_get_the_error_kserve_gives(http, case):
    _, path, doc = case
    fast, slow = _both(http, path, doc)
    assert 400 <= fast.status_code < 500, fast.text
    assert (fast.status_code, fast.json()) == (slow.status_code, slow.json())


# The binary tensor extension (tritonclient's form): a JSON header, then each input's bytes.

def _binary(x: dict, spec, *, output_flags: dict | None = None, default: bool | None = True,
            routed: bool = False, **change) -> tuple[bytes, dict]:
    header: dict = {"inputs": [{"name": n, "datatype": spec.input(n).datatype, "shape": list(a.shape),
                                "parameters": {"binary_data_size": a.nbytes}} for n, a in x.items()]}
    if default is not None:
        header["parameters"] = {"binary_data_output": default}
    if output_flags is not None:
        header["outputs"] = [{"name": n} if f is None else {"name": n, "parameters": {"binary_data": f}}
                             for n, f in output_flags.items()]
    header.update(change)
    if routed:
        header["routed_to_kserve"] = True
    head = orjson.dumps(header)
    return head + b"".join(np.ascontiguousarray(a).tobytes() for a in x.values()), {
        "content-type": "application/octet-stream", "inference-header-content-length": str(len(head))}


def _split(r: httpx.Response, spec) -> tuple[dict, dict]:
    """(JSON header, {output: array}) of a binary-extension answer; JSON outputs decoded from their data."""
    length = int(r.headers.get("inference-header-content-length", len(r.content)))
    head, offset, arrays = orjson.loads(r.content[:length]), length, {}
    for out in head["outputs"]:
        dtype = spec.output(out["name"]).dtype
        if "data" in out:
            arrays[out["name"]] = np.asarray(out.pop("data"), dtype).reshape(out["shape"])
        else:
            size = out["parameters"]["binary_data_size"]
            arrays[out["name"]] = np.frombuffer(r.content[offset:offset + size], dtype).reshape(out["shape"])
            offset += size
    return head, arrays


def _both_binary(http, model: str, x: dict, spec, **kw) -> tuple[httpx.Response, httpx.Response]:
    from rosetta.serving.protocols.v2_rest import plain_binary_request

    fast_body, fast_headers = _binary(x, spec, **kw)
    slow_body, slow_headers = _binary(x, spec, routed=True, **kw)
    length = int(fast_headers["inference-header-content-length"])
    assert plain_binary_request(fast_body, length) is not None
    assert plain_binary_request(slow_body, int(slow_headers["inference-header-content-length"])) is None
    return (http.post(V2Rest.path(model), content=fast_body, headers=fast_headers),
            http.post(V2Rest.path(model), content=slow_body, headers=slow_headers))


@pytest.mark.parametrize("model", MODELS)
def test_binary_extension_gets_the_answer_kserve_gives(http, specs, model):
    spec = specs[model]
    x = example_inputs(spec, 4, seed=13)
    first, last = spec.output_names[0], spec.output_names[-1]
    for kw in ({}, {"default": False, "output_flags": {last: True}}, {"default": None, "output_flags": {first: None}},
               {"output_flags": {n: None for n in reversed(spec.output_names)}}, {"id": "b-1"}):
        fast, slow = _both_binary(http, model, x, spec, **kw)
        assert fast.status_code == slow.status_code == 200, (kw, fast.text, slow.text)
        for h in ("content-type", "inference-header-content-length"):
            assert (h in fast.headers) == (h in slow.headers), (kw, h)
        (fast_head, fast_arrays), (slow_head, slow_arrays) = _split(fast, spec), _split(slow, spec)
        assert fast_head == slow_head, kw
        assert list(fast_arrays) == list(slow_arrays)
        for name in slow_arrays:
            np.testing.assert_array_equal(fast_arrays[name], slow_arrays[name])


def test_binary_extension_errors_are_kserves(http, specs):
    spec = specs[CLASSIFIER.name]
    x = example_inputs(spec, 2)
    nan = {"pixels": np.full((2, 3, 4), np.nan, np.float32)}
    cases = [dict(x=nan), dict(x={"pixels": x["pixels"].reshape(2, 12)}),
             dict(x={"pixels": np.zeros((1001, 3, 4), np.float32)}), dict(x=x, output_flags={"nope": None})]
    for case in cases:
        fast, slow = _both_binary(http, CLASSIFIER.name, case.pop("x"), spec, **case)
        assert 400 <= fast.status_code < 500, fast.text
        assert (fast.status_code, fast.json()) == (slow.status_code, slow.json())
    from rosetta.serving.protocols.v2_rest import plain_binary_request

    body, headers = _binary(x, spec)
    length = int(headers["inference-header-content-length"])
    assert plain_binary_request(body[:-1], length) is None  # sizes do not add up: kserve words that error
    assert plain_binary_request(body, len(body) + 1) is None
    wrong_type = body.replace(b'"FP32"', b'"FP64"')
    assert plain_binary_request(wrong_type, length) is None  # 24 values of FP64 need 192 bytes, not 96
