"""Async clients for the three protocols the ORT server speaks (tests and the benchmark), for any model spec.

Each turns named input arrays into a request body once (`encode`) and an answer into named output arrays
(`decode`), so a load loop can re-send pre-encoded bodies and measure the server alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import numpy as np
import orjson
from grpc import aio
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from rosetta.core.spec import DATATYPES, NUMPY_TO_DATATYPE, ModelSpec

JSON = {"content-type": "application/json"}
Tensors = dict[str, np.ndarray]


def example_inputs(spec: ModelSpec, rows: int, seed: int = 0, free_dim: int = 4) -> Tensors:
    """Valid random inputs for any spec: floats in [0, 1), integers in [0, 100), booleans; free non-batch
    dimensions take `free_dim`."""
    rng = np.random.default_rng(seed)
    out = {}
    for t in spec.inputs:
        shape = (rows, *(free_dim if d == -1 else d for d in t.shape[1:]))
        if t.dtype.kind == "f":
            out[t.name] = rng.random(shape).astype(t.dtype)
        elif t.dtype.kind == "b":
            out[t.name] = rng.random(shape) < 0.5
        else:
            out[t.name] = rng.integers(0, 100, shape).astype(t.dtype)
    return out


def _json_values(x: np.ndarray) -> bytes:
    # orjson writes float32 as its shortest round-trip form: compact, and parses back to the same float32.
    return orjson.dumps(np.ascontiguousarray(x), option=orjson.OPT_SERIALIZE_NUMPY)


def _datatype(x: np.ndarray) -> str:
    return NUMPY_TO_DATATYPE[x.dtype.name]


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
    def encode(inputs: Tensors, outputs: list[str] | None = None) -> bytes:
        tensors = [b'{"name":%s,"datatype":"%s","shape":%s,"data":%s}' % (
            orjson.dumps(name), _datatype(x).encode(), orjson.dumps(list(x.shape)), _json_values(x.ravel()))
            for name, x in inputs.items()]
        body = b'{"inputs":[' + b",".join(tensors) + b"]"
        if outputs is not None:
            body += b',"outputs":' + orjson.dumps([{"name": n} for n in outputs])
        return body + b"}"

    @staticmethod
    def decode(body: bytes) -> Tensors:
        return {out["name"]: np.asarray(out["data"], dtype=DATATYPES[out["datatype"]]).reshape(out["shape"])
                for out in orjson.loads(body)["outputs"]}


class TfRest:
    """TF Serving REST predict, row ("instances") or columnar ("inputs") format. One input goes bare (as
    TF Serving clients send it) unless `named`; several go by name."""

    @staticmethod
    def path(model: str, version: int | None = None) -> str:
        return f"/v1/models/{model}" + (f"/versions/{version}" if version is not None else "") + ":predict"

    @staticmethod
    def encode(inputs: Tensors, columnar: bool = False, named: bool = False) -> bytes:
        if len(inputs) == 1 and not named:
            return (b'{"inputs":' if columnar else b'{"instances":') + _json_values(next(iter(inputs.values()))) + b"}"
        if columnar:
            return orjson.dumps({"inputs": inputs}, option=orjson.OPT_SERIALIZE_NUMPY)
        rows = len(next(iter(inputs.values())))
        return orjson.dumps({"instances": [{n: x[i] for n, x in inputs.items()} for i in range(rows)]},
                            option=orjson.OPT_SERIALIZE_NUMPY)

    @staticmethod
    def decode(body: bytes, spec: ModelSpec) -> Tensors:
        """Named outputs from `predictions` (row) or `outputs` (columnar), bare or by name."""
        doc = orjson.loads(body)
        value = doc["predictions"] if "predictions" in doc else doc["outputs"]
        outputs = spec.outputs
        if len(outputs) == 1:
            return {outputs[0].name: np.asarray(value, dtype=outputs[0].dtype)}
        if isinstance(value, dict):
            return {t.name: np.asarray(value[t.name], dtype=t.dtype) for t in outputs}
        return {t.name: np.asarray([row[t.name] for row in value], dtype=t.dtype) for t in outputs}


class V2Grpc:
    """KServe v2 gRPC ModelInfer with raw little-endian tensor bytes."""

    def __init__(self, target: str, max_message_bytes: int = 64 << 20) -> None:
        self.channel = aio.insecure_channel(target, options=[("grpc.max_send_message_length", max_message_bytes),
                                                             ("grpc.max_receive_message_length", max_message_bytes)])
        self.stub = GRPCInferenceServiceStub(self.channel)

    @staticmethod
    def encode(model: str, inputs: Tensors, version: int | None = None,
               outputs: list[str] | None = None) -> pb.ModelInferRequest:
        tensors = [pb.ModelInferRequest.InferInputTensor(name=name, datatype=_datatype(x), shape=list(x.shape))
                   for name, x in inputs.items()]
        requested = [pb.ModelInferRequest.InferRequestedOutputTensor(name=n) for n in outputs or []]
        raw = [np.ascontiguousarray(x, x.dtype.newbyteorder("<")).tobytes() for x in inputs.values()]
        return pb.ModelInferRequest(model_name=model, model_version="" if version is None else str(version),
                                    inputs=tensors, outputs=requested, raw_input_contents=raw)

    @staticmethod
    def decode(resp: pb.ModelInferResponse) -> Tensors:
        out = {}
        for i, tensor in enumerate(resp.outputs):
            dtype = np.dtype(DATATYPES[tensor.datatype])
            if resp.raw_output_contents:
                out[tensor.name] = np.frombuffer(resp.raw_output_contents[i], dtype=dtype.newbyteorder("<")).reshape(
                    list(tensor.shape))
            else:
                field = {"f": "fp32_contents" if dtype.itemsize == 4 else "fp64_contents", "b": "bool_contents",
                         "i": "int64_contents" if dtype.itemsize == 8 else "int_contents",
                         "u": "uint64_contents" if dtype.itemsize == 8 else "uint_contents"}[dtype.kind]
                out[tensor.name] = np.asarray(getattr(tensor.contents, field), dtype=dtype).reshape(list(tensor.shape))
        return out

    async def infer(self, request: pb.ModelInferRequest, timeout: float = 60) -> pb.ModelInferResponse:
        return await self.stub.ModelInfer(request, timeout=timeout)

    async def close(self) -> None:
        await self.channel.close()
