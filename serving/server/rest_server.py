"""kserve's REST server, bound to the configured host, with our routes, limits, metrics and error format.

Routes are added on kserve's own app (kserve.model_server.app, the app kserve documents for custom routes
and middleware); ours are registered first because FastAPI matches in registration order and kserve answers
the versioned v2 paths with 501. kserve's v1 protocol is not mounted: its paths (/v1/models/{m}:predict)
are TF Serving's, which we serve with TF Serving's request and response format instead.
"""
from __future__ import annotations

from pathlib import Path

import orjson
import yaml
from fastapi import FastAPI, Response
from fastapi.routing import APIRouter
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.server import RESTServer
from kserve.protocol.rest.v2_endpoints import register_v2_endpoints
from starlette.exceptions import HTTPException

from rosetta.serving.protocols.errors import add_rest_error_handlers
from rosetta.serving.protocols.tfserving_rest import register_tfserving_routes
from rosetta.serving.protocols.v2_versions import register_versioned_v2_routes
from rosetta.serving.server.artifact_site import INDEX_JSON, mount
from rosetta.serving.server.config import ServeConfig
from rosetta.serving.server.dataplane import ServingDataPlane
from rosetta.serving.server.drain import DrainingHttpToolsProtocol
from rosetta.serving.server.limits import BodySizeLimitMiddleware
from rosetta.serving.server.metrics import ModelLabels, RestMetricsMiddleware, metrics_handler
from rosetta.serving.server.workers import reuse_port_socket

OPENAPI = Path(__file__).resolve().parents[1] / "openapi.yaml"


async def repository_disabled(path: str) -> None:
    raise HTTPException(404, "model repository control is disabled on this server")


class ServingRESTServer(RESTServer):
    def __init__(self, dataplane: ServingDataPlane, repository_extension: ModelRepositoryExtension,
                 config: ServeConfig, labels: ModelLabels, grace_period: int) -> None:
        super().__init__(FASTAPI_APP_IMPORT_STRING, dataplane, repository_extension, config.http_port,
                         grace_period=grace_period)
        self.config.host = config.host  # kserve hard-codes 0.0.0.0
        self.config.access_log = False  # one log line per request costs more than a batch-1 inference
        # On SIGTERM, a keep-alive connection's next request is answered (Connection: close), not reset.
        self.config.http = DrainingHttpToolsProtocol
        self.serve_config = config
        self.labels = labels

    async def start(self) -> None:
        if not self.serve_config.reuse_port:
            return await super().start()
        self.create_application()  # what kserve's start does, then uvicorn on a socket the workers share
        await self._server.serve(sockets=[reuse_port_socket(self.serve_config.host, self.serve_config.http_port)])

    def _add_middlewares(self, app: FastAPI) -> None:
        # kserve's TimingMiddleware (a log line per request) is replaced by the Prometheus middleware.
        app.add_middleware(BodySizeLimitMiddleware, max_bytes=self.serve_config.max_body_bytes)
        app.add_middleware(RestMetricsMiddleware, labels=self.labels)  # outermost: counts 413s too

    def _register_endpoints(self, app: FastAPI) -> None:
        # TF Serving's routes first: FastAPI matches an included router's routes one by one, so every TF Serving
        # request behind the v2 routers paid ~50 us to be turned away by each (profiled under wrk).
        register_tfserving_routes(app, self.dataplane)
        register_versioned_v2_routes(app, self.dataplane, self.model_repository_extension)
        root = APIRouter(include_in_schema=False)
        root.add_api_route("/v2/health/ready", self.readiness, methods=["GET"])
        root.add_api_route("/metrics", metrics_handler, methods=["GET"])
        # Shadows kserve's load/unload routes: loading is the deployment's job, and unauthenticated it
        # would let any client take a model offline.
        root.add_api_route("/v2/repository/{path:path}", repository_disabled, methods=["GET", "POST"])
        app.include_router(root)
        register_v2_endpoints(app, self.dataplane, self.model_repository_extension)
        self._mount_site(app)
        schema = yaml.safe_load(OPENAPI.read_text())
        app.openapi = lambda: schema  # FastAPI's documented override; /openapi.json serves the curated document

    async def readiness(self) -> Response:
        """kserve's {"ready": ...} (200, or 503 when not ready), plus which models are not served and why."""
        body = await self.dataplane.readiness()
        return Response(orjson.dumps(body), status_code=200 if body["ready"] else 503, media_type="application/json")

    def _mount_site(self, app: FastAPI) -> None:
        """The download page at /artifacts/: an explicit --site must exist, the default one may not."""
        explicit = self.serve_config.site
        site = explicit or self.serve_config.artifacts / "site"
        if explicit or (site / INDEX_JSON).is_file():
            mount(app, site)

    def _add_exception_handlers(self, app: FastAPI) -> None:
        add_rest_error_handlers(app)
