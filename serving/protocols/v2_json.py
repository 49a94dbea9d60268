"""KServe v2 REST infer with JSON tensors, decoded straight into numpy: the common request skips kserve's
pydantic models, its InferRequest/InferResponse objects and FastAPI's dependency solving (~1 ms of the
~1.5 ms a single-image request used to cost).

Only the plain, well-formed request takes this path: a JSON object with `inputs` (each exactly name, datatype,
shape as integers and data as a list), optionally `id` (a string) and `outputs` (each exactly a name), sent as
application/json without the binary extension or cloud-event headers. Anything else (other fields,
parameters, a body that does not parse, another content type) is replayed unchanged to kserve's route, so
malformed input gets exactly the answer it got before. The checks of the values themselves are the ones the
kserve path runs (v2_inputs, tensors), so their errors are identical too.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
from kserve.errors import ModelNotReady

from serving.protocols.v2_inputs import check_input_names, select_outputs, tensor_array

ASGIApp = Callable[[dict, Callable, Callable], Any]
REQUEST_KEYS = frozenset({"id", "inputs", "outputs"})
INPUT_KEYS = frozenset({"name", "datatype", "shape", "data"})
JSON_CONTENT_TYPE = b"application/json"
# kserve refuses FP16 in JSON and answers BYTES its own way: those outputs go the kserve path.
JSON_OUTPUT_TYPES = frozenset({"FP32", "FP64", "INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16",
                               "UINT8", "BOOL"})


def _plain_headers(headers: list[tuple[bytes, bytes]]) -> bool:
    """JSON (or no content type, which FastAPI parses as JSON), no binary extension, no cloud event."""
    for key, value in headers:
        if key == b"content-type" and value != JSON_CONTENT_TYPE:
            return False
        if key == b"inference-header-content-length" or key.startswith(b"ce-"):
            return False
    return True


def _is_shape(value: Any) -> bool:
    return type(value) is list and all(type(d) is int for d in value)


def plain_request(body: bytes) -> dict | None:
    """The parsed request if it has the plain form this path serves, else None (kserve's route takes it)."""
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
    outputs = doc.get("outputs")
    if outputs is not None:
        if type(outputs) is not list:
            return None
        for output in outputs:
            if type(output) is not dict or output.keys() != {"name"} or type(output["name"]) is not str:
                return None
    return doc


def _flat(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).reshape(-1)


def encode_response(model_name: str, version: str, request_id: str, outputs: list[tuple[Any, np.ndarray]]) -> bytes:
    """kserve's InferenceResponse JSON (same fields, same order), numpy written by orjson directly: float32
    in its shortest round-trip form, which parses back to the same float32."""
    return orjson.dumps({"model_name": model_name, "model_version": version, "id": request_id, "parameters": None,
                         "outputs": [{"name": t.name, "shape": list(a.shape), "datatype": t.datatype,
                                      "parameters": None, "data": _flat(a)} for t, a in outputs]},
                        option=orjson.OPT_SERIALIZE_NUMPY)


async def _read_body(receive: Callable) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None  # client went away
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class PlainJsonInfer:
    """ASGI endpoint for POST .../infer, registered ahead of kserve's route for the same path (`fallback`)."""

    def __init__(self, served_model: Callable[[str, str | None], Any], fallback: ASGIApp) -> None:
        self.served_model = served_model  # the dataplane's lookup: name, version -> model (or 404)
        self.fallback = fallback

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if not _plain_headers(scope["headers"]):
            return await self.fallback(scope, receive, send)
        body = await _read_body(receive)
        if body is None:
            return
        doc = plain_request(body)
        if doc is None or not await self._answer(scope, doc, send):
            replayed = False

            async def replay() -> dict:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.fallback(scope, replay, send)

    async def _answer(self, scope: dict, doc: dict, send: Callable) -> bool:
        """Serve the request; False (nothing sent) when an output needs kserve's encoding."""
        params = scope["path_params"]
        model = self.served_model(params["model_name"], params.get("model_version"))
        if not model.ready:
            raise ModelNotReady(model.name)
        spec = model.spec
        selected = select_outputs([o["name"] for o in doc.get("outputs") or ()], spec)
        if any(t.datatype not in JSON_OUTPUT_TYPES for t in selected):
            return False
        tensors = doc["inputs"]
        check_input_names([t["name"] for t in tensors], spec)
        arrays = {t["name"]: tensor_array(t["datatype"], t["shape"], t["data"], None, spec.input(t["name"]))
                  for t in tensors}
        results = await model.infer(arrays)
        body = encode_response(model.name, str(model.version), doc.get("id") or "",
                               [(t, results[t.name]) for t in selected])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return True
