"""The TensorFlow Serving REST API on kserve's app, so TF Serving clients work against this server unchanged.

GET  /v1/models/{m}[/versions/{v}]            model status
GET  /v1/models/{m}[/versions/{v}]/metadata   signature (the one `serving_default`)
POST /v1/models/{m}[/versions/{v}]:predict    row format {"instances": ...} -> {"predictions": ...}
                                              columnar   {"inputs": ...}    -> {"outputs": ...}
Errors are {"error": "..."} as in TF Serving (kserve's handlers for InvalidInput/ModelNotFound).
"""
from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from kserve.errors import InvalidInput

from serving.dataplane import ServingDataPlane
from serving.manifest import TensorSpec
from serving.model import OnnxModel
from serving.validation import numeric_array

SIGNATURE = "serving_default"
TF_DTYPES = {"float32": "DT_FLOAT", "float64": "DT_DOUBLE", "int64": "DT_INT64", "int32": "DT_INT32",
             "uint8": "DT_UINT8"}


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def _tensor_info(t: TensorSpec) -> dict:
    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in t.shape]
    return {"dtype": TF_DTYPES[t.dtype], "tensor_shape": {"dim": dims, "unknown_rank": False},
            "name": f"{SIGNATURE}_{t.name}:0"}


def model_status(model: OnnxModel) -> dict:
    return {"model_version_status": [{"version": str(model.spec.version),
                                      "state": "AVAILABLE" if model.ready else "LOADING",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def model_metadata(model: OnnxModel) -> dict:
    spec = model.spec
    signature = {"inputs": {spec.input.name: _tensor_info(spec.input)},
                 "outputs": {spec.output.name: _tensor_info(spec.output)},
                 "method_name": "tensorflow/serving/predict", "defaults": {}}
    return {"model_spec": {"name": spec.name, "signature_name": "", "version": str(spec.version)},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}}}


def parse_predict_body(body: bytes, input_name: str) -> tuple[Any, bool]:
    """(tensor value as nested lists, row_format) from a TF Serving predict request body."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput("request body must be a JSON object with 'instances' or 'inputs'")
    signature = doc.get("signature_name", SIGNATURE)
    if signature != SIGNATURE:
        raise InvalidInput(f"serving signature name {signature!r} not found; this model has {SIGNATURE!r}")
    if ("instances" in doc) == ("inputs" in doc):
        raise InvalidInput("request needs exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise InvalidInput("'instances' must be a list with one entry per example")
        if instances and all(isinstance(i, dict) for i in instances):
            if any(set(i) != {input_name} for i in instances):
                raise InvalidInput(f"each named instance must have exactly the key '{input_name}'")
            instances = [i[input_name] for i in instances]
        return instances, True
    inputs = doc["inputs"]
    if isinstance(inputs, dict):
        if set(inputs) != {input_name}:
            raise InvalidInput(f"'inputs' must name exactly the input '{input_name}', got {sorted(inputs)}")
        inputs = inputs[input_name]
    return inputs, False


def register_tfserving_routes(app: FastAPI, dataplane: ServingDataPlane) -> None:
    """Plain Starlette routes, not FastAPI ones: no per-request dependency solving (~0.2 ms of CPU each),
    and the bodies are parsed here anyway."""

    def served(request: Request) -> OnnxModel:
        return dataplane.served_model(request.path_params["model_name"], request.path_params.get("version"))

    async def status(request: Request) -> Response:
        return _json(model_status(served(request)))

    async def metadata(request: Request) -> Response:
        return _json(model_metadata(served(request)))

    async def predict(request: Request) -> Response:
        model = served(request)
        value, row_format = parse_predict_body(await request.body(), model.spec.input.name)
        probs = await model.infer(numeric_array(value, f"input '{model.spec.input.name}'"))
        return _json({"predictions": probs} if row_format else {"outputs": probs})

    for prefix in ("/v1/models/{model_name}", "/v1/models/{model_name}/versions/{version}"):
        app.add_route(prefix, status, methods=["GET"], include_in_schema=False)
        app.add_route(f"{prefix}/metadata", metadata, methods=["GET"], include_in_schema=False)
        app.add_route(f"{prefix}:predict", predict, methods=["POST"], include_in_schema=False)
