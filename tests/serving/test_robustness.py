"""A generated campaign of malformed requests over every protocol and both test models (single- and multi-IO):
each gets its 4xx (or gRPC status) with an error message naming what is wrong, none gets a 5xx, and the server
stays healthy and correct afterwards. Plus gRPC bytes that are not a request message at all."""
import asyncio
import random
from dataclasses import dataclass

import grpc
import numpy as np
import orjson
import pytest
from google.protobuf.message import DecodeError
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

from benchmarks.serving.clients import JSON, RestClient, TfRest, V2Grpc, V2Rest, example_inputs
from rosetta.core.spec import ModelSpec
from tests.serving.tiny_models import CLASSIFIER, SPECS

MAX_ROWS = 1000  # the session server's --max-request-rows
MAX_BODY = 8 << 20  # and --max-body-bytes
CAMPAIGN = 600
Tensor = pb.ModelInferRequest.InferInputTensor
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class Rest:
    kind: str
    path: str
    body: bytes
    expected: int
    headers: dict | None = None


@dataclass
class Grpc:
    kind: str
    request: pb.ModelInferRequest
    expected: grpc.StatusCode


def _tensors(x: dict) -> list[dict]:
    return [{"name": n, "datatype": {"f": "FP32", "i": "INT64"}[a.dtype.kind], "shape": list(a.shape),
             "data": a.ravel().tolist()} for n, a in x.items()]


def _v2(x: dict, target: str | None = None, **change) -> bytes:
    """A v2 JSON body for inputs x with fields of one tensor replaced (None removes a field)."""
    tensors = _tensors(x)
    extra = change.pop("request", {})
    for t in tensors:
        if t["name"] == target:
            t.update(change)
            for k in [k for k, v in t.items() if v is None]:
                del t[k]
    return orjson.dumps({"inputs": tensors, **extra})


def _rest_cases(rng: random.Random) -> list[Rest]:
    spec: ModelSpec = rng.choice(SPECS)
    m, n = spec.name, rng.randint(1, 4)
    t = rng.choice(spec.inputs)
    x = example_inputs(spec, n, seed=rng.randrange(1000))
    count = x[t.name].size
    v2 = rng.choice([V2Rest.path(m), V2Rest.path(m, 1)])
    tf = rng.choice([TfRest.path(m), TfRest.path(m, 1)])
    good_v2, good_tf = _v2(x), TfRest.encode(x, named=len(x) > 1)
    junk = rng.choice([b"{", b"nope", b'{"inputs": [', b"\xff\xfe", b"", b"[1,"])
    actual = list(x[t.name].shape)
    wrong_shape = rng.choice([[n, 7], [*actual, 1], actual[1:]])
    is_float = t.datatype == "FP32"
    cases = [
        Rest("v2 invalid json", v2, good_v2[:rng.randint(1, len(good_v2) - 1)], 400),
        Rest("v2 junk", v2, junk, 400),
        Rest("v2 not an object", v2, rng.choice([b"[1, 2]", b'"x"', b"3", b"null"]), 400),
        Rest("v2 wrong input name", v2, _v2(x, t.name, name=rng.choice(["x", "", t.name.upper(), t.name + "s"])),
             400),
        Rest("v2 wrong datatype", v2, _v2(x, t.name, datatype=rng.choice(
            [d for d in ("INT32", "FP64", "BYTES", "UINT8", "BOOL", "X", "FP32", "INT64") if d != t.datatype])), 400),
        Rest("v2 fp16 as json", v2, _v2(x, t.name, datatype="FP16"), 400),
        Rest("v2 count mismatch", v2, _v2(x, t.name, data=[0] * (count + rng.choice([-1, 1, 9]))), 400),
        Rest("v2 wrong shape", v2, _v2(x, t.name, shape=wrong_shape, data=[0] * int(np.prod(wrong_shape))), 400),
        Rest("v2 negative shape", v2, _v2(x, t.name, shape=[-1, *x[t.name].shape[1:]]), 400),
        Rest("v2 empty batch", v2, _v2(x, t.name, shape=[0, *x[t.name].shape[1:]], data=[]), 400),
        Rest("v2 strings", v2, _v2(x, t.name, data=["0.5"] * count), 400),
        Rest("v2 bools", v2, _v2(x, t.name, data=[True] * count), 400),
        Rest("v2 ragged", v2, _v2(x, t.name, data=[[0] * 3, [0] * 2]), 400),
        Rest("v2 missing field", v2, _v2(x, t.name, datatype=None), 400),
        Rest("v2 missing input", v2, orjson.dumps({"inputs": [d for d in _tensors(x) if d["name"] != t.name]}), 400),
        Rest("v2 repeated input", v2, orjson.dumps({"inputs": _tensors(x) + _tensors(x)[:1]}), 400),
        Rest("v2 batch sizes disagree" if len(x) > 1 else "v2 rows over shape", v2,
             _v2(x, t.name, shape=[n + 1, *x[t.name].shape[1:]], data=[0] * (count // n * (n + 1))), 400)
        if len(x) > 1 else Rest("v2 unknown output", v2, _v2(x, request={"outputs": [{"name": "logits"}]}), 400),
        Rest("v2 unknown output", v2, _v2(x, request={"outputs": [{"name": rng.choice(["x", "", "logits"])}]}), 400),
        Rest("v2 repeated output", v2, _v2(x, request={"outputs": [{"name": spec.output_names[0]}] * 2}), 400),
        Rest("v2 binary without header", v2, b"\x00" * 64, 400, {"content-type": "application/octet-stream"}),
        Rest("v2 binary bad header", v2, b'{"inputs": []}', 400,
             {"content-type": "application/octet-stream", "inference-header-content-length": rng.choice(["x", "-3"])}),
        Rest("v2 unknown model", V2Rest.path(f"model-{rng.randint(0, 99)}"), good_v2, 404),
        Rest("v2 unknown version", V2Rest.path(m, rng.randint(2, 99)), good_v2, 404),
        Rest("tf invalid json", tf, good_tf[:rng.randint(1, len(good_tf) - 1)], 400),
        Rest("tf junk", tf, junk, 400),
        Rest("tf neither key", tf, rng.choice([b"{}", b'{"signature_name": "serving_default"}', b'{"data": []}']), 400),
        Rest("tf both keys", tf, b'{"instances": [], "inputs": []}', 400),
        Rest("tf instances not a list", tf, b'{"instances": {"a": 1}}', 400),
        Rest("tf ragged", tf, orjson.dumps({"inputs": {**{k: v.tolist() for k, v in x.items()},
                                                        t.name: [[0] * 3, [0] * 2]}}), 400),
        Rest("tf strings", tf, orjson.dumps({"inputs": {**{k: v.tolist() for k, v in x.items()},
                                                         t.name: np.full(x[t.name].shape, "a").tolist()}}), 400),
        Rest("tf nulls", tf, orjson.dumps({"inputs": {**{k: v.tolist() for k, v in x.items()},
                                                       t.name: np.full(x[t.name].shape, None).tolist()}}), 400),
        Rest("tf wrong shape", tf, orjson.dumps({"inputs": {**{k: v.tolist() for k, v in x.items()},
                                                             t.name: np.zeros(wrong_shape).tolist()}}), 400),
        Rest("tf named wrong key", tf, orjson.dumps({"instances": [{"not-an-input": 0}]}), 400),
        Rest("tf missing input", tf, orjson.dumps({"inputs": {k: v.tolist() for k, v in x.items() if k != t.name}}),
             400),
        Rest("tf empty", tf, b'{"instances": []}', 400),
        Rest("tf bad signature", tf, b'{"signature_name": "predict", "instances": [[0]]}', 400),
        Rest("tf unknown model", TfRest.path(f"resnet-{rng.randint(0, 99)}"), good_tf, 404),
        Rest("tf unknown version", TfRest.path(m, rng.randint(2, 99)), good_tf, 404),
    ]
    if is_float:
        nan = rng.choice([b"NaN", b"Infinity", b"-Infinity"])  # not JSON: a body-parse 400
        name = t.name.encode()
        huge = {**{k: v.tolist() for k, v in x.items()}, t.name: np.full(x[t.name].shape, 1e39).tolist()}
        cases += [Rest("v2 nan", v2, _v2(x, t.name, data=None).replace(b'"name":"%s"' % name,
                                                                        b'"data":[%s],"name":"%s"' % (nan, name)), 400),
                  Rest("tf overflow to inf", tf, orjson.dumps({"inputs": huge}), 400)]
    else:
        cases += [Rest("v2 fractions for integers", v2, _v2(x, t.name, data=[0.5] * count), 400),
                  Rest("v2 integer out of range", v2, _v2(x, t.name, data=[2**63] + [0] * (count - 1)), 400)]
    if len(x) > 1:
        cases.append(Rest("tf bare value for several inputs", tf, orjson.dumps({"inputs": x[t.name].tolist()}), 400))
    return cases


def _heavy_rest_cases(rng: random.Random) -> list[Rest]:
    """Over-limit requests (megabytes each), a few of each."""
    spec = rng.choice(SPECS)
    over_rows = example_inputs(spec, MAX_ROWS + 1)
    return [
        Rest("v2 rows over limit", V2Rest.path(spec.name), V2Rest.encode(over_rows), 400),
        Rest("tf rows over limit", TfRest.path(spec.name), TfRest.encode(over_rows, columnar=True, named=True), 400),
        Rest("v2 body over limit", V2Rest.path(spec.name), b" " * (MAX_BODY + 1), 413),
        Rest("tf body over limit", TfRest.path(spec.name), b"[" * (MAX_BODY + rng.randint(1, 1000)), 413),
    ]


def _grpc_cases(rng: random.Random) -> list[Grpc]:
    spec: ModelSpec = rng.choice(SPECS)
    m, n = spec.name, rng.randint(1, 4)
    t = rng.choice(spec.inputs)
    x = example_inputs(spec, n, seed=rng.randrange(1000))
    good = V2Grpc.encode(m, x)
    index = spec.input_names.index(t.name)

    def req(model=m, version="", **change) -> pb.ModelInferRequest:
        r = pb.ModelInferRequest()
        r.CopyFrom(good)
        r.model_name, r.model_version = model, version
        tensor = r.inputs[index]
        if "raw" in change:
            r.raw_input_contents[index] = change.pop("raw")
        if "shape" in change:
            del tensor.shape[:]
            tensor.shape.extend(change.pop("shape"))
        for k, v in change.items():
            if k == "contents":
                tensor.contents.CopyFrom(v)
            else:
                setattr(tensor, k, v)
        return r

    bad = x[t.name].astype(np.float64 if t.datatype == "FP32" else np.int64)
    if t.datatype == "FP32":
        bad = x[t.name].copy()
        bad.flat[rng.randrange(bad.size)] = rng.choice([np.nan, np.inf, -np.inf])
    raw = good.raw_input_contents[index]
    cases = [
        Grpc("grpc unknown model", req(model=f"model-{rng.randint(0, 99)}"), grpc.StatusCode.NOT_FOUND),
        Grpc("grpc unknown version", req(version=str(rng.randint(2, 99))), grpc.StatusCode.NOT_FOUND),
        Grpc("grpc no model name", req(model=""), INVALID),
        Grpc("grpc wrong input name", req(name=rng.choice(["x", "", t.name + "s"])), INVALID),
        Grpc("grpc wrong datatype", req(datatype=rng.choice([d for d in ("INT32", "FP64", "UINT8", "FP32", "INT64")
                                                             if d != t.datatype])), INVALID),
        Grpc("grpc raw length", req(raw=raw[:rng.randint(0, len(raw) - 1)]), INVALID),
        Grpc("grpc wrong shape", req(shape=rng.choice([[n, 7], [n, *x[t.name].shape[1:], 1]])), INVALID),
        Grpc("grpc negative shape", req(shape=[-n, *x[t.name].shape[1:]]), INVALID),
        Grpc("grpc empty batch", req(shape=[0, *x[t.name].shape[1:]], raw=b""), INVALID),
        Grpc("grpc no inputs", pb.ModelInferRequest(model_name=m), INVALID),
        Grpc("grpc repeated input", pb.ModelInferRequest(model_name=m, inputs=[*good.inputs, good.inputs[0]],
                                                         raw_input_contents=[*good.raw_input_contents,
                                                                             good.raw_input_contents[0]]), INVALID),
        Grpc("grpc raw and contents", req(contents=pb.InferTensorContents(fp32_contents=[0.0],
                                                                          int64_contents=[0])), INVALID),
        Grpc("grpc unknown output", V2Grpc.encode(m, x, outputs=[rng.choice(["logits", "", "x"])]), INVALID),
    ]
    if t.datatype == "FP32":
        cases += [Grpc("grpc nan or inf", req(raw=bad.astype("<f4").tobytes()), INVALID),
                  Grpc("grpc inf contents", V2Grpc.encode(m, {**x, t.name: bad}), INVALID)]
    if len(spec.inputs) > 1:
        other = next(i for i in spec.inputs if i.name != t.name)
        cases.append(Grpc("grpc batch sizes disagree", V2Grpc.encode(
            m, {**x, other.name: example_inputs(spec, n + 1)[other.name]}), INVALID))
    return cases


def _heavy_grpc_cases() -> list[Grpc]:
    return [Grpc("grpc rows over limit", V2Grpc.encode(CLASSIFIER.name, example_inputs(CLASSIFIER, MAX_ROWS + 1)),
                 INVALID),
            Grpc("grpc message over limit", V2Grpc.encode(CLASSIFIER.name, example_inputs(CLASSIFIER, 180_000)),
                 grpc.StatusCode.RESOURCE_EXHAUSTED)]


def campaign(seed: int = 20261127) -> list[Rest | Grpc]:
    rng = random.Random(seed)
    cases: list[Rest | Grpc] = []
    while len(cases) < CAMPAIGN:
        cases += _rest_cases(rng) + _grpc_cases(rng)
    for _ in range(3):
        cases += _heavy_rest_cases(rng) + _heavy_grpc_cases()
    rng.shuffle(cases)
    return cases


async def _send_all(server, cases, concurrency: int = 16) -> list[tuple[Rest | Grpc, object, str]]:
    rest, rpc = RestClient(server.http_url, connections=concurrency), V2Grpc(server.grpc_target)
    limit = asyncio.Semaphore(concurrency)

    async def one(case):
        async with limit:
            if isinstance(case, Rest):
                answer = await rest.post(case.path, case.body, case.headers or JSON)
                try:
                    message = orjson.loads(answer.body).get("error", "")
                except orjson.JSONDecodeError:
                    message = ""
                return case, answer.status, message
            try:
                await rpc.infer(case.request, timeout=30)
                return case, grpc.StatusCode.OK, ""
            except grpc.aio.AioRpcError as err:
                return case, err.code(), err.details() or ""

    try:
        return await asyncio.gather(*map(one, cases))
    finally:
        await rest.close()
        await rpc.close()


def _still_correct(server) -> None:
    assert server.is_ready() and server.alive()
    x = example_inputs(CLASSIFIER, 8)

    async def ask():
        rest = RestClient(server.http_url)
        try:
            answer = await rest.post(TfRest.path(CLASSIFIER.name), TfRest.encode(x))
            return answer.status, TfRest.decode(answer.body, CLASSIFIER)
        finally:
            await rest.close()

    status, out = asyncio.run(ask())
    assert status == 200 and out["scores"].shape == (8, 5)
    np.testing.assert_allclose(out["scores"].sum(1), 1.0, atol=1e-5)


def test_campaign_is_large_and_covers_every_kind():
    cases = campaign()
    kinds = {c.kind for c in cases}
    assert len(cases) >= 500
    assert len(kinds) >= 60
    assert {"v2 body over limit", "tf rows over limit", "grpc message over limit", "v2 nan", "v2 unknown version",
            "v2 fractions for integers", "grpc batch sizes disagree", "tf bare value for several inputs"} <= kinds
    assert {c.path.split("/")[3].split(":")[0] for c in cases if isinstance(c, Rest)} >= {s.name for s in SPECS}


def test_malformed_requests_get_client_errors_and_the_server_keeps_serving(server):
    results = asyncio.run(_send_all(server, campaign()))
    server_errors = [(c.kind, status) for c, status, _ in results
                     if (isinstance(status, int) and status >= 500)
                     or status in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE)]
    assert not server_errors, server_errors[:10]
    wrong = [(c.kind, status, message) for c, status, message in results if status != c.expected]
    assert not wrong, wrong[:10]
    silent = [c.kind for c, status, message in results if not message]
    assert not silent, silent[:10]
    _still_correct(server)


def _junk(rng: random.Random) -> list[tuple[str, bytes]]:
    """Bytes sent as a ModelInfer request: random, truncated valid messages, other message types, empty."""
    valid = V2Grpc.encode(CLASSIFIER.name, example_inputs(CLASSIFIER, 2)).SerializeToString()
    response = pb.ModelInferResponse(model_name="x", outputs=[pb.ModelInferResponse.InferOutputTensor(
        name="scores", datatype="FP32", shape=[1, 5])], raw_output_contents=[b"\x07" * 20]).SerializeToString()
    return [
        ("random", rng.randbytes(rng.randint(1, 400))),
        ("random with a valid tag", b"\x0a\x05" + rng.randbytes(rng.randint(10, 200))),
        ("truncated", valid[:rng.randint(1, len(valid) - 1)]),
        ("wrong message type", rng.choice([response, pb.ServerLiveResponse(live=True).SerializeToString(),
                                           pb.ModelMetadataRequest(name=CLASSIFIER.name).SerializeToString()])),
        ("invalid utf-8 in a string field", b"\x0a\x03\xff\xfe\xfd"),
        ("empty", b""),
    ]


def test_grpc_bytes_that_are_not_a_request_get_invalid_argument(server):
    rng = random.Random(7)
    cases = [case for _ in range(25) for case in _junk(rng)]
    with grpc.insecure_channel(server.grpc_target) as channel:
        for method in ("ModelInfer", "ModelMetadata", "ModelReady"):
            call = channel.unary_unary(f"/inference.GRPCInferenceService/{method}")  # bytes in, bytes out
            request_type = getattr(pb, f"{method}Request")
            for kind, data in cases:
                try:
                    request_type.FromString(data)
                    decodes = True
                except DecodeError:
                    decodes = False
                try:
                    call(data, timeout=10)
                    code, details = grpc.StatusCode.OK, "ok"
                except grpc.RpcError as err:
                    code, details = err.code(), err.details()
                # Undecodable bytes: INVALID_ARGUMENT. Bytes that happen to decode are a request like any other:
                # a client error (no model name, unknown model, bad inputs) or, for a valid metadata request, OK.
                allowed = {grpc.StatusCode.INVALID_ARGUMENT} if not decodes else {
                    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.OK}
                assert code in allowed and details, (method, kind, data[:40], code, details)
                if not decodes:
                    assert "not a valid" in details, details
    kinds_undecodable = {kind for kind, data in cases if not _decodes(data)}
    assert {"truncated", "invalid utf-8 in a string field"} <= kinds_undecodable
    _still_correct(server)


def _decodes(data: bytes) -> bool:
    try:
        pb.ModelInferRequest.FromString(data)
        return True
    except DecodeError:
        return False


@pytest.mark.parametrize("method", ["ModelInfer"])
def test_empty_request_is_invalid_argument_naming_the_missing_model(server, method):
    with grpc.insecure_channel(server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            channel.unary_unary(f"/inference.GRPCInferenceService/{method}")(b"", timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "names no model" in err.value.details()
