"""The TensorFlow Serving REST API on kserve's app, so TF Serving clients work against this server unchanged.

GET  /v1/models/{m}[/versions/{v}|/labels/{l}]            model status (unaddressed: every served version)
GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata   signature (the one `serving_default`), from the spec
POST /v1/models/{m}[/versions/{v}|/labels/{l}]:predict    row format {"instances": ...} -> {"predictions": ...}
                                                         columnar   {"inputs": ...}    -> {"outputs": ...}
Unaddressed requests go to the latest served version, as in TF Serving.
As in TF Serving: a one-input model takes bare values (or {name: value}); a model with several inputs takes
{name: value} objects (one per instance in row format). One output comes back bare, several by name (an
object per instance in row format, an object of columns in columnar format).
Errors are {"error": "..."} as in TF Serving (kserve's handlers for InvalidInput/ModelNotFound).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request, Response
from kserve.errors import InvalidInput

from rosetta.core.spec import ModelSpec, TensorSpec
from rosetta.serving.protocols.tensors import json_array
from rosetta.serving.runtime.model import OnnxModel
from rosetta.serving.server.dataplane import ServingDataPlane

SIGNATURE = "serving_default"
TF_DTYPES = {"FP32": "DT_FLOAT", "FP64": "DT_DOUBLE", "FP16": "DT_HALF", "INT64": "DT_INT64", "INT32": "DT_INT32",
             "INT16": "DT_INT16", "INT8": "DT_INT8", "UINT8": "DT_UINT8", "BOOL": "DT_BOOL"}


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def _tensor_info(t: TensorSpec) -> dict:
    dims = [{"size": str(d), "name": ""} for d in t.shape]
    return {"dtype": TF_DTYPES[t.datatype], "tensor_shape": {"dim": dims, "unknown_rank": False},
            "name": f"{SIGNATURE}_{t.name}:0"}


def model_status(models: list[OnnxModel]) -> dict:
    """TF Serving lists the served versions newest first."""
    return {"model_version_status": [{"version": str(model.version),
                                      "state": "AVAILABLE" if model.ready else "LOADING",
                                      "status": {"error_code": "OK", "error_message": ""}}
                                     for model in sorted(models, key=lambda m: -m.version)]}


def model_metadata(model: OnnxModel) -> dict:
    spec = model.spec
    signature = {"inputs": {t.name: _tensor_info(t) for t in spec.inputs},
                 "outputs": {t.name: _tensor_info(t) for t in spec.outputs},
                 "method_name": "tensorflow/serving/predict", "defaults": {}}
    return {"model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}}}


def _named(value: dict, spec: ModelSpec, where: str) -> dict:
    if set(value) != set(spec.input_names):
        raise InvalidInput(f"{where} must name exactly the inputs {spec.input_names}, got {sorted(value)}")
    return value


def parse_predict_body(body: bytes, spec: ModelSpec) -> tuple[dict[str, Any], bool]:
    """({input name: value as nested lists}, row_format) from a TF Serving predict request body."""
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
    names = spec.input_names
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise InvalidInput("'instances' must be a list with one entry per example")
        if instances and all(isinstance(i, dict) for i in instances):
            for i, instance in enumerate(instances):
                _named(instance, spec, f"instance {i}")
            return {n: [i[n] for i in instances] for n in names}, True
        if len(names) > 1:
            raise InvalidInput(f"model {spec.name} has inputs {names}: each instance must be an object "
                               "naming every input")
        return {names[0]: instances}, True
    inputs = doc["inputs"]
    if isinstance(inputs, dict):
        return _named(inputs, spec, "'inputs'"), False
    if len(names) > 1:
        raise InvalidInput(f"model {spec.name} has inputs {names}: 'inputs' must be an object naming every input")
    return {names[0]: inputs}, False


def predict_response(outputs: dict[str, np.ndarray], spec: ModelSpec, row_format: bool) -> dict:
    """TF Serving's answer: one output bare; several by name, per instance (row) or per column."""
    if len(spec.outputs) == 1:
        value = outputs[spec.output_names[0]]
        return {"predictions": value} if row_format else {"outputs": value}
    if not row_format:
        return {"outputs": {n: outputs[n] for n in spec.output_names}}
    rows = len(outputs[spec.output_names[0]])  # numpy rows and scalars: orjson writes float32 as float32
    return {"predictions": [{n: outputs[n][i] for n in spec.output_names} for i in range(rows)]}


def register_tfserving_routes(app: FastAPI, dataplane: ServingDataPlane) -> None:
    """Plain Starlette routes, not FastAPI ones: no per-request dependency solving (~0.2 ms of CPU each),
    and the bodies are parsed here anyway."""

    def served(request: Request) -> OnnxModel:
        params = request.path_params
        return dataplane.served_model(params["model_name"], params.get("version"), params.get("label"))

    async def status(request: Request) -> Response:
        params = request.path_params
        if "version" in params or "label" in params:
            return _json(model_status([served(request)]))
        front = dataplane.versioned_model(params["model_name"])
        return _json(model_status(list(front.loaded().values())))

    async def metadata(request: Request) -> Response:
        return _json(model_metadata(served(request)))

    async def predict(request: Request) -> Response:
        body = await request.body()  # first: the version is resolved after the last await before infer
        model = served(request)
        values, row_format = parse_predict_body(body, model.spec)
        arrays = {t.name: json_array(values[t.name], t, f"input '{t.name}'") for t in model.spec.inputs}
        return _json(predict_response(await model.infer(arrays), model.spec, row_format))

    for prefix in ("/v1/models/{model_name}", "/v1/models/{model_name}/versions/{version}",
                   "/v1/models/{model_name}/labels/{label}"):
        app.add_route(prefix, status, methods=["GET"], include_in_schema=False)
        app.add_route(f"{prefix}:predict", predict, methods=["POST"], include_in_schema=False)
        app.add_route(f"{prefix}/metadata", metadata, methods=["GET"], include_in_schema=False)
