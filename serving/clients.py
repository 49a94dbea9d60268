"""Async clients for the three protocols the ORT server speaks (tests and the benchmark).

Each turns a float32 batch [n, 28, 28] into a request body once (`encode`) and an answer into the
probabilities (`decode`), so a load loop can re-send pre-encoded bodies and measure the server alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import numpy as np
import orjson
from grpc import aio
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

INPUT, OUTPUT = "images", "probabilities"
JSON = {"content-type": "application/json"}


def _json_floats(x: np.ndarray) -> bytes:
    # orjson writes float32 as its shortest round-trip form: compact, and parses back to the same float32.
    return orjson.dumps(x, option=orjson.OPT_SERIALIZE_NUMPY)


@dataclass
class HttpAnswer:
    status: int
    body: bytes


class RestClient:
    """One keep-alive connection pool for many concurrent requests."""

    def __init__(self, base_url: str, connections: int = 64) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections),
                                             timeout=aiohttp.ClientTimeout(total=60))

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> HttpAnswer:
        async with self.session.post(self.base_url + path, data=body, headers=headers or JSON) as resp:
            return HttpAnswer(resp.status, await resp.read())

    async def get(self, path: str) -> HttpAnswer:
        async with self.session.get(self.base_url + path) as resp:
            return HttpAnswer(resp.status, await resp.read())

    async def close(self) -> None:
        await self.session.close()


class V2Rest:
    """KServe v2 REST infer, JSON tensors."""

    @staticmethod
    def path(model: str, version: int | None = None) -> str:
        return f"/v2/models/{model}" + (f"/versions/{version}" if version is not None else "") + "/infer"

    @staticmethod
    def encode(x: np.ndarray) -> bytes:
        head = b'{"inputs":[{"name":"%s","datatype":"FP32","shape":%s,"data":' % (
            INPUT.encode(), orjson.dumps(list(x.shape)))
        return head + _json_floats(x.ravel()) + b"}]}"

    @staticmethod
    def decode(body: bytes) -> np.ndarray:
        out = orjson.loads(body)["outputs"][0]
        return np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])


class TfRest:
    """TF Serving REST predict, row ("instances") or columnar ("inputs") format."""

    @staticmethod
    def path(model: str, version: int | None = None) -> str:
        return f"/v1/models/{model}" + (f"/versions/{version}" if version is not None else "") + ":predict"

    @staticmethod
    def encode(x: np.ndarray, columnar: bool = False) -> bytes:
        return (b'{"inputs":' if columnar else b'{"instances":') + _json_floats(x) + b"}"

    @staticmethod
    def decode(body: bytes) -> np.ndarray:
        doc = orjson.loads(body)
        return np.asarray(doc["predictions"] if "predictions" in doc else doc["outputs"], dtype=np.float32)


class V2Grpc:
    """KServe v2 gRPC ModelInfer with raw little-endian tensor bytes."""

    def __init__(self, target: str, max_message_bytes: int = 64 << 20) -> None:
        self.channel = aio.insecure_channel(target, options=[("grpc.max_send_message_length", max_message_bytes),
                                                             ("grpc.max_receive_message_length", max_message_bytes)])
        self.stub = GRPCInferenceServiceStub(self.channel)

    @staticmethod
    def encode(model: str, x: np.ndarray, version: int | None = None) -> pb.ModelInferRequest:
        tensor = pb.ModelInferRequest.InferInputTensor(name=INPUT, datatype="FP32", shape=list(x.shape))
        return pb.ModelInferRequest(model_name=model, model_version="" if version is None else str(version),
                                    inputs=[tensor], raw_input_contents=[np.ascontiguousarray(x, "<f4").tobytes()])

    @staticmethod
    def decode(resp: pb.ModelInferResponse) -> np.ndarray:
        out = resp.outputs[0]
        if resp.raw_output_contents:
            return np.frombuffer(resp.raw_output_contents[0], dtype="<f4").reshape(list(out.shape))
        return np.asarray(out.contents.fp32_contents, dtype=np.float32).reshape(list(out.shape))

    async def infer(self, request: pb.ModelInferRequest, timeout: float = 60) -> pb.ModelInferResponse:
        return await self.stub.ModelInfer(request, timeout=timeout)

    async def close(self) -> None:
        await self.channel.close()

