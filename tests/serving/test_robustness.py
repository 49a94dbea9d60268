"""A generated campaign of malformed requests over every protocol: each gets its 4xx (or gRPC status) with an
error message, none gets a 5xx, and the server stays healthy and correct afterwards."""
import asyncio
import random
from dataclasses import dataclass

import grpc
import numpy as np
import orjson
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

from serving.clients import JSON, RestClient, TfRest, V2Grpc, V2Rest

pytestmark = pytest.mark.slow

MODELS = ["mnist-keras", "mnist-torch", "mnist-jax"]
MAX_ROWS = 1000  # the session server's --max-request-rows
MAX_BODY = 8 << 20  # and --max-body-bytes
CAMPAIGN = 600
Tensor = pb.ModelInferRequest.InferInputTensor


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


def _v2_json(name="images", datatype="FP32", shape=(1, 28, 28), data=None, **extra) -> bytes:
    data = np.zeros(int(np.prod(shape)), np.float32).tolist() if data is None else data
    return orjson.dumps({"inputs": [{"name": name, "datatype": datatype, "shape": list(shape), "data": data}], **extra})


def _rest_cases(rng: random.Random) -> list[Rest]:
    m = rng.choice(MODELS)
    n = rng.randint(1, 4)
    v2 = rng.choice([V2Rest.path(m), V2Rest.path(m, 1)])
    tf = rng.choice([TfRest.path(m), TfRest.path(m, 1)])
    good_v2, good_tf = _v2_json(shape=(n, 28, 28)), TfRest.encode(np.zeros((n, 28, 28), np.float32))
    junk = rng.choice([b"{", b"nope", b'{"inputs": [', b"\xff\xfe", b"", b"[1,"])
    return [
        Rest("v2 invalid json", v2, good_v2[:rng.randint(1, len(good_v2) - 1)], 400),
        Rest("v2 junk", v2, junk, 400),
        Rest("v2 not an object", v2, rng.choice([b"[1, 2]", b'"x"', b"3", b"null"]), 400),
        Rest("v2 wrong input name", v2, _v2_json(name=rng.choice(["x", "image", "", "IMAGES"])), 400),
        Rest("v2 wrong datatype", v2, _v2_json(datatype=rng.choice(["INT32", "FP64", "BYTES", "UINT8", "BOOL", "X"])),
             400),
        Rest("v2 fp16 as json", v2, _v2_json(datatype="FP16"), 400),
        Rest("v2 count mismatch", v2, _v2_json(shape=(n, 28, 28), data=[0.0] * (n * 784 + rng.choice([-5, -1, 1, 9]))),
             400),
        Rest("v2 wrong shape", v2, _v2_json(shape=rng.choice([(n, 28, 27), (n, 784), (28, 28), (n, 1, 28, 28)]),
                                             data=None), 400),
        Rest("v2 negative shape", v2, _v2_json(shape=(-1, 28, 28), data=[0.0] * 784), 400),
        Rest("v2 nan", v2, _v2_json().replace(b"0.0", rng.choice([b"NaN", b"Infinity", b"-Infinity"]), 1), 400),
        Rest("v2 empty batch", v2, _v2_json(shape=(0, 28, 28), data=[]), 400),
        Rest("v2 strings", v2, _v2_json(data=["0.5"] * 784), 400),
        Rest("v2 bools", v2, _v2_json(data=[True] * 784), 400),
        Rest("v2 ragged", v2, _v2_json(data=[[0.0] * 28] * 27 + [[0.0] * 27]), 400),
        Rest("v2 missing field", v2, orjson.dumps({"inputs": [{"name": "images", "shape": [1, 28, 28]}]}), 400),
        Rest("v2 unknown output", v2, _v2_json(outputs=[{"name": "logits"}]), 400),
        Rest("v2 binary without header", v2, b"\x00" * 64, 400, {"content-type": "application/octet-stream"}),
        Rest("v2 binary bad header", v2, b'{"inputs": []}', 400,
             {"content-type": "application/octet-stream", "inference-header-content-length": rng.choice(["x", "-3"])}),
        Rest("v2 unknown model", V2Rest.path(f"mnist-{rng.randint(0, 99)}"), good_v2, 404),
        Rest("v2 unknown version", V2Rest.path(m, rng.randint(2, 99)), good_v2, 404),
        Rest("tf invalid json", tf, good_tf[:rng.randint(1, len(good_tf) - 1)], 400),
        Rest("tf junk", tf, junk, 400),
        Rest("tf neither key", tf, rng.choice([b"{}", b'{"signature_name": "serving_default"}', b'{"data": []}']), 400),
        Rest("tf both keys", tf, b'{"instances": [], "inputs": []}', 400),
        Rest("tf instances not a list", tf, b'{"instances": {"a": 1}}', 400),
        Rest("tf ragged", tf, orjson.dumps({"instances": [[[0.0] * 28] * 28, [[0.0] * 28] * 27]}), 400),
        Rest("tf strings", tf, orjson.dumps({"instances": [[["a"] * 28] * 28]}), 400),
        Rest("tf nulls", tf, orjson.dumps({"instances": [[[None] * 28] * 28]}), 400),
        Rest("tf wrong shape", tf, orjson.dumps({"instances": rng.choice([[[0.0] * 784], [[[0.0] * 27] * 28]])}), 400),
        Rest("tf named wrong key", tf, orjson.dumps({"instances": [{"pixels": [[0.0] * 28] * 28}]}), 400),
        Rest("tf overflow to inf", tf, orjson.dumps({"inputs": [[[1e39] * 28] * 28]}), 400),
        Rest("tf empty", tf, b'{"instances": []}', 400),
        Rest("tf bad signature", tf, b'{"signature_name": "predict", "instances": [[0]]}', 400),
        Rest("tf unknown model", TfRest.path(f"resnet-{rng.randint(0, 99)}"), good_tf, 404),
        Rest("tf unknown version", TfRest.path(m, rng.randint(2, 99)), good_tf, 404),
    ]


def _heavy_rest_cases(rng: random.Random) -> list[Rest]:
    """Over-limit requests (megabytes each), a few of each."""
    m = rng.choice(MODELS)
    over_rows = np.zeros((MAX_ROWS + 1, 28, 28), np.float32)
    return [
        Rest("v2 rows over limit", V2Rest.path(m), V2Rest.encode(over_rows), 400),
        Rest("tf rows over limit", TfRest.path(m), TfRest.encode(over_rows), 400),
        Rest("v2 body over limit", V2Rest.path(m), b" " * (MAX_BODY + 1), 413),
        Rest("tf body over limit", TfRest.path(m), b"[" * (MAX_BODY + rng.randint(1, 1000)), 413),
    ]


def _grpc_cases(rng: random.Random) -> list[Grpc]:
    m = rng.choice(MODELS)
    n = rng.randint(1, 4)
    x = np.zeros((n, 28, 28), np.float32)
    raw = x.tobytes()
    bad = x.copy()
    bad.flat[rng.randrange(bad.size)] = rng.choice([np.nan, np.inf, -np.inf])

    def req(name="images", datatype="FP32", shape=(n, 28, 28), raw_contents=(raw,), model=m, version="", **kw):
        tensor = Tensor(name=name, datatype=datatype, shape=list(shape), **kw)
        return pb.ModelInferRequest(model_name=model, model_version=version, inputs=[tensor],
                                    raw_input_contents=list(raw_contents))

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    return [
        Grpc("grpc unknown model", req(model=f"mnist-{rng.randint(0, 99)}"), grpc.StatusCode.NOT_FOUND),
        Grpc("grpc unknown version", req(version=str(rng.randint(2, 99))), grpc.StatusCode.NOT_FOUND),
        Grpc("grpc wrong input name", req(name=rng.choice(["x", "", "image"])), invalid),
        Grpc("grpc wrong datatype", req(datatype=rng.choice(["INT32", "FP64", "UINT8"])), invalid),
        Grpc("grpc raw length", req(raw_contents=(raw[:rng.randint(0, len(raw) - 1)],)), invalid),
        Grpc("grpc wrong shape", req(shape=rng.choice([(n, 784), (n, 28, 28, 1), (n * 28, 28)])), invalid),
        Grpc("grpc negative shape", req(shape=(-n, 28, 28)), invalid),
        Grpc("grpc nan or inf", req(raw_contents=(bad.tobytes(),)), invalid),
        Grpc("grpc inf contents", req(raw_contents=(), contents=pb.InferTensorContents(
            fp32_contents=[float("inf")] * (n * 784))), invalid),
        Grpc("grpc empty batch", req(shape=(0, 28, 28), raw_contents=(b"",)), invalid),
        Grpc("grpc no inputs", pb.ModelInferRequest(model_name=m), invalid),
        Grpc("grpc two inputs", pb.ModelInferRequest(model_name=m, inputs=[Tensor(name="images", datatype="FP32",
                                                                                  shape=[n, 28, 28])] * 2,
                                                     raw_input_contents=[raw, raw]), invalid),
        Grpc("grpc raw and contents", req(contents=pb.InferTensorContents(fp32_contents=[0.0])), invalid),
        Grpc("grpc unknown output", pb.ModelInferRequest(
            model_name=m, inputs=[Tensor(name="images", datatype="FP32", shape=[n, 28, 28])], raw_input_contents=[raw],
            outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="logits")]), invalid),
    ]


def _heavy_grpc_cases() -> list[Grpc]:
    return [Grpc("grpc rows over limit", V2Grpc.encode("mnist-torch", np.zeros((MAX_ROWS + 1, 28, 28), np.float32)),
                 grpc.StatusCode.INVALID_ARGUMENT),
            Grpc("grpc message over limit", V2Grpc.encode("mnist-torch", np.zeros((2700, 28, 28), np.float32)),
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


def test_campaign_is_large_and_covers_every_kind():
    cases = campaign()
    kinds = {c.kind for c in cases}
    assert len(cases) >= 500
    assert len(kinds) >= 50
    assert {"v2 body over limit", "tf rows over limit", "grpc message over limit", "v2 nan",
            "v2 unknown version"} <= kinds


def test_malformed_requests_get_client_errors_and_the_server_keeps_serving(server, test_split):
    results = asyncio.run(_send_all(server, campaign()))
    server_errors = [(c.kind, status) for c, status, _ in results
                     if (isinstance(status, int) and status >= 500)
                     or status in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE)]
    assert not server_errors, server_errors[:10]
    wrong = [(c.kind, status, message) for c, status, message in results if status != c.expected]
    assert not wrong, wrong[:10]
    silent = [c.kind for c, status, message in results if not message]
    assert not silent, silent[:10]

    assert server.is_ready() and server.alive()
    images = test_split.images[:8]

    async def still_correct():
        rest = RestClient(server.http_url)
        try:
            answer = await rest.post(TfRest.path("mnist-torch"), TfRest.encode(images))
            return answer.status, TfRest.decode(answer.body)
        finally:
            await rest.close()

    status, probs = asyncio.run(still_correct())
    assert status == 200 and probs.shape == (8, 10)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
