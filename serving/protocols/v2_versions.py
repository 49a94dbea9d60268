"""KServe v2 model routes that honour a version: kserve 0.21 answers 501 to a version given in the path
(/v2/models/{m}/versions/{v}/...) or as its ?model_version= query parameter.

Registered ahead of kserve's own routes for the same paths; each checks the version (a number or a label;
404 naming what is served if it is neither), then hands over to kserve's V2Endpoints handler, with the
version in the decoded request so the model's VersionedModel runs that version.
"""
from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.v2_datamodels import (
    InferenceRequest,
    InferenceResponse,
    ModelMetadataResponse,
    ModelReadyResponse,
)
from kserve.protocol.rest.v2_endpoints import V2Endpoints
from starlette.routing import Route

from rosetta.serving.protocols.v2_rest import PlainInfer
from rosetta.serving.server.dataplane import ServingDataPlane


def decode_request(dataplane: ServingDataPlane, raw_request: Request, model_name: str,
                   body: InferenceRequest | bytes) -> InferRequest:
    """kserve's own decoding, done first so that what its binary-extension decoder lets escape for a
    malformed body (KeyError on a missing field, ValueError on a non-numeric length header) is a 400, not a 500.
    kserve's infer then receives the decoded request and passes it through."""
    try:
        request, _ = dataplane.decode(body, dict(raw_request.headers), protocol_version="v2", model_name=model_name)
    except InvalidInput:
        raise
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise InvalidInput(f"malformed inference request: {type(exc).__name__}: {exc}") from None
    return request


def register_versioned_v2_routes(app: FastAPI, dataplane: ServingDataPlane,
                                 repository_extension: ModelRepositoryExtension) -> None:
    endpoints = V2Endpoints(dataplane, repository_extension)

    async def model_metadata(model_name: str, model_version: str | None = None) -> ModelMetadataResponse:
        return ModelMetadataResponse.model_validate(await dataplane.model_metadata(model_name, model_version))

    async def model_ready(model_name: str, model_version: str | None = None) -> ModelReadyResponse:
        dataplane.served_model(model_name, model_version)
        return await endpoints.model_ready(model_name)

    # The body annotation is kserve's: FastAPI parses JSON into InferenceRequest, anything else stays bytes
    # (the binary tensor extension).
    async def infer(raw_request: Request, raw_response: Response, model_name: str,
                    request_body: InferenceRequest | bytes,
                    model_version: str | None = None) -> InferenceResponse | Response:
        dataplane.served_model(model_name, model_version)
        decoded = decode_request(dataplane, raw_request, model_name, request_body)
        decoded.model_version = model_version
        return await endpoints.infer(raw_request, raw_response, model_name, decoded)

    for prefix in ("/v2/models/{model_name}", "/v2/models/{model_name}/versions/{model_version}"):
        router = APIRouter(prefix=prefix, tags=["V2"])
        router.add_api_route("", model_metadata, response_model=ModelMetadataResponse, methods=["GET"])
        router.add_api_route("/ready", model_ready, response_model=ModelReadyResponse, methods=["GET"])
        router.add_api_route("/infer", infer, response_model=None, methods=["POST"])
        # The direct JSON decoder is matched first (registration order) and hands the rest to this route.
        kserve_infer = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == prefix + "/infer")
        app.router.routes.append(Route(kserve_infer.path, PlainInfer(dataplane.served_model, kserve_infer.app),
                                       methods=["POST"], include_in_schema=False))
        app.include_router(router)
