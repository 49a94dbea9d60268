"""KServe v2 REST infer decoded straight into numpy: the common request skips kserve's pydantic models, its
InferRequest/InferResponse objects and FastAPI's dependency solving (~1 ms of the ~1.5 ms a single-image JSON
request cost), and binary tensors stay bytes (kserve turns each into a Python list of floats, ~0.4 s for 500
MNIST images).

Two plain forms take this path:
- JSON: a JSON object with `inputs` (each exactly name, datatype, shape as integers and data as a list),
  optionally `id` (a string) and `outputs` (each exactly a name), sent as application/json;
- the binary tensor extension (what tritonclient sends): application/octet-stream with the
  Inference-Header-Content-Length header; every input exactly name, datatype, shape and parameters
  {"binary_data_size": n} with n the bytes its datatype and shape need, naming exactly the model's inputs in
  its datatypes; optionally `id`, `parameters` {"binary_data_output": bool}, outputs with parameters
  {"binary_data": bool}.
Anything else (other fields, other parameters, a body that does not parse, sizes that do not add up, another
content type, cloud-event headers) is replayed unchanged to kserve's route, so malformed input gets exactly the
answer it got before. The checks of the values themselves are the ones the kserve path runs (v2_inputs,
tensors), so their errors are identical too; tests/serving/test_v2_rest.py compares both paths.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from kserve.errors import ModelNotReady

from rosetta.core.spec import DATATYPES, TensorSpec
from rosetta.serving.protocols.v2_inputs import check_input_names, select_outputs, tensor_array
from rosetta.serving.server.limits import replaying

ASGIApp = Callable[[dict, Callable, Callable], Any]
REQUEST_KEYS = frozenset({"id", "inputs", "outputs"})
BINARY_REQUEST_KEYS = frozenset({"id", "inputs", "outputs", "parameters"})
INPUT_KEYS = frozenset({"name", "datatype", "shape", "data"})
BINARY_INPUT_KEYS = frozenset({"name", "datatype", "shape", "parameters"})
JSON_CONTENT_TYPE = b"application/json"
BINARY_CONTENT_TYPE = b"application/octet-stream"
HEADER_LENGTH = b"inference-header-content-length"
# kserve refuses FP16 in JSON and answers BYTES its own way: those outputs go the kserve path.
JSON_OUTPUT_TYPES = frozenset({"FP32", "FP64", "INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16",
                               "UINT8", "BOOL"})


@dataclass
class PlainRequest:
    """A request in one of the plain forms: the JSON document, and for the binary form each input's bytes and
    each output's binary flag (None: the JSON form, every output as JSON)."""

    doc: dict
    raw: list[bytes] | None = None
    binary_outputs: dict[str, bool] | None = None
    binary_default: bool = False


def _request_form(headers: list[tuple[bytes, bytes]]) -> tuple[str, int] | None:
    """("json", 0), ("binary", JSON header length) or None (kserve's path) from the request headers."""
    content_type, header_length = None, None
    for key, value in headers:
        if key == b"content-type":
            content_type = value
        elif key == HEADER_LENGTH:
            header_length = value
        elif key.startswith(b"ce-"):
            return None  # a binary cloud event: kserve answers with one
    if header_length is None:
        # no content type: FastAPI parses the body as JSON too
        return ("json", 0) if content_type in (None, JSON_CONTENT_TYPE) else None
    if content_type == BINARY_CONTENT_TYPE and header_length.isdigit():
        return "binary", int(header_length)
    return None


def _is_shape(value: Any) -> bool:
    return type(value) is list and all(type(d) is int for d in value)


def _is_flag(params: Any, key: str) -> bool:
    return type(params) is dict and params.keys() == {key} and type(params[key]) is bool


def _plain_outputs(outputs: Any, binary: bool) -> bool:
    if outputs is None:
        return True
    if type(outputs) is not list:
        return False
    for output in outputs:
        if type(output) is not dict or type(output.get("name")) is not str:
            return False
        keys = output.keys()
        if keys != {"name"} and not (binary and keys == {"name", "parameters"}
                                     and _is_flag(output["parameters"], "binary_data")):
            return False
    return True


def plain_request(body: bytes) -> dict | None:
    """The parsed JSON-form request if it has the plain form this path serves, else None."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict or "inputs" not in doc or not REQUEST_KEYS.issuperset(doc):
        return None
    if "id" in doc and type(doc["id"]) is not str:
        return None
    inputs = doc["inputs"]
    if type(inputs) is not list:
        return None
    for tensor in inputs:
        if (type(tensor) is not dict or tensor.keys() != INPUT_KEYS or type(tensor["name"]) is not str
                or type(tensor["datatype"]) is not str or not _is_shape(tensor["shape"])
                or type(tensor["data"]) is not list):
            return None
    return doc if _plain_outputs(doc.get("outputs"), binary=False) else None


def plain_binary_request(body: bytes, header_length: int) -> PlainRequest | None:
    """The binary-extension request split into its JSON header and each input's bytes, if plain, else None."""
    if header_length > len(body):
        return None
    try:
        doc = orjson.loads(body[:header_length])
    except orjson.JSONDecodeError:
        return None
    if type(doc) is not dict or "inputs" not in doc or not BINARY_REQUEST_KEYS.issuperset(doc):
        return None
    if ("id" in doc and type(doc["id"]) is not str) or (
            "parameters" in doc and not _is_flag(doc["parameters"], "binary_data_output")):
        return None
    inputs = doc["inputs"]
    if type(inputs) is not list or not _plain_outputs(doc.get("outputs"), binary=True):
        return None
    raw, offset = [], header_length
    body_view = memoryview(body)
    for tensor in inputs:
        if (type(tensor) is not dict or tensor.keys() != BINARY_INPUT_KEYS or type(tensor["name"]) is not str
                or type(tensor["datatype"]) is not str or not _is_shape(tensor["shape"])):
            return None
        params = tensor["parameters"]
        if type(params) is not dict or params.keys() != {"binary_data_size"}:
            return None
        size = params["binary_data_size"]
        if type(size) is not int or size < 0 or tensor["datatype"] not in DATATYPES:
            return None
        if any(d < 0 for d in tensor["shape"]) or size != math.prod(tensor["shape"]) * np.dtype(
                DATATYPES[tensor["datatype"]]).itemsize:
            return None  # kserve's decoder words these errors its own way
        raw.append(body_view[offset:offset + size])
        offset += size
    if offset != len(body):
        return None
    default = bool(doc.get("parameters", {}).get("binary_data_output", False))
    flags = {o["name"]: o.get("parameters", {}).get("binary_data", default) for o in doc.get("outputs") or ()}
    return PlainRequest(doc, raw, flags, default)


def _flat(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).reshape(-1)


def encode_response(model_name: str, version: str, request_id: str,
                    outputs: list[tuple[TensorSpec, np.ndarray]]) -> bytes:
    """kserve's JSON InferenceResponse (same fields, same order), numpy written by orjson directly: float32
    in its shortest round-trip form, which parses back to the same float32."""
    return orjson.dumps({"model_name": model_name, "model_version": version, "id": request_id, "parameters": None,
                         "outputs": [{"name": t.name, "shape": list(a.shape), "datatype": t.datatype,
                                      "parameters": None, "data": _flat(a)} for t, a in outputs]},
                        option=orjson.OPT_SERIALIZE_NUMPY)


def encode_binary_response(model_name: str, version: str, request_id: str,
                           outputs: list[tuple[TensorSpec, np.ndarray, bool]]) -> tuple[bytes, int]:
    """kserve's binary-extension answer: its JSON header (binary outputs sized in parameters, the others with
    data), then the binary outputs' bytes; returns (body, header length)."""
    described, raw = [], []
    for t, a, binary in outputs:
        entry: dict[str, Any] = {"name": t.name, "shape": list(a.shape), "datatype": t.datatype}
        if binary:
            data = np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            raw.append(data)
        else:
            entry["data"] = _flat(a)
        described.append(entry)
    header = orjson.dumps({"id": request_id, "model_name": model_name, "model_version": version,
                           "outputs": described}, option=orjson.OPT_SERIALIZE_NUMPY)
    return header + b"".join(raw), len(header)


async def _read_body(receive: Callable) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None  # client went away
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class PlainInfer:
    """ASGI endpoint for POST .../infer, registered ahead of kserve's route for the same path (`fallback`)."""

    def __init__(self, served_model: Callable[[str, str | None], Any], fallback: ASGIApp) -> None:
        self.served_model = served_model  # the dataplane's lookup: name, version -> model (or 404)
        self.fallback = fallback

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        form = _request_form(scope["headers"])
        if form is None:
            return await self.fallback(scope, receive, send)
        body = await _read_body(receive)
        if body is None:
            return
        if form[0] == "json":
            doc = plain_request(body)
            request = PlainRequest(doc) if doc is not None else None
        else:
            request = plain_binary_request(body, form[1])
        if request is None or not await self._answer(scope, request, send):
            await self.fallback(scope, replaying(body, receive), send)

    async def _answer(self, scope: dict, request: PlainRequest, send: Callable) -> bool:
        """Serve the request; False (nothing sent) when it needs kserve's decoding or encoding after all."""
        params = scope["path_params"]
        model = self.served_model(params["model_name"], params.get("model_version"))
        spec = model.spec
        tensors = request.doc["inputs"]
        if request.raw is not None and (
                len(tensors) != len(spec.inputs) or {t["name"] for t in tensors} != set(spec.input_names)
                or any(t["datatype"] != spec.input(t["name"]).datatype for t in tensors)):
            return False  # kserve decodes the bytes by the request's datatype before the checks: its errors
        if not model.ready:
            raise ModelNotReady(model.name)
        selected = select_outputs([o["name"] for o in request.doc.get("outputs") or ()], spec)
        flags = request.binary_outputs
        binary = [bool(flags.get(t.name, request.binary_default)) for t in selected] if flags is not None else []
        if any(t.datatype not in JSON_OUTPUT_TYPES for t, b in zip(selected, binary or [False] * len(selected))
               if not b):
            return False
        check_input_names([t["name"] for t in tensors], spec)
        raw = request.raw or [None] * len(tensors)
        arrays = {t["name"]: tensor_array(t["datatype"], t["shape"], t.get("data"), r, spec.input(t["name"]))
                  for t, r in zip(tensors, raw, strict=True)}
        results = await model.infer(arrays)
        request_id = request.doc.get("id") or ""
        headers = []
        if any(binary):
            body, header_length = encode_binary_response(
                model.name, str(model.version), request_id,
                [(t, results[t.name], b) for t, b in zip(selected, binary, strict=True)])
            headers.append((HEADER_LENGTH, str(header_length).encode()))
        else:
            body = encode_response(model.name, str(model.version), request_id, [(t, results[t.name]) for t in selected])
            headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True
