"""Prometheus metrics (served on /metrics by kserve's handler from the default registry).

Label values come from a fixed set: the model label is a served model's name or "_unknown", never the raw
path or request field, so a client sending random model names cannot grow the series count without bound.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
from grpc import aio
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, exposition
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter("rosetta_requests", "Requests by model, protocol and status (HTTP code or gRPC code name)",
                   ["model", "protocol", "status"])
LATENCY = Histogram("rosetta_request_latency_seconds", "Time from request received to response sent",
                    ["model", "protocol"],
                    buckets=(0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.5))
BATCH_SIZE = Histogram("rosetta_batch_size", "Rows per ONNX Runtime run", ["model"],
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048))
# Hot reload (serving/runtime/model_table.py). Version label values are the manifest's served versions.
# With several server processes (prometheus multiprocess mode) the gauges report the live processes' minimum
# versions (what every process serves) and latest reload; single-process, the mode is ignored.
VERSIONS_LOADED = Gauge("rosetta_model_versions_loaded", "Versions of a model loaded and served", ["model"],
                        multiprocess_mode="livemin")
VERSION_EVENTS = Counter("rosetta_model_version_events", "Version loads, load failures and retirements",
                         ["model", "event"])  # event: loaded | failed | retired
MANIFEST_POLLS = Counter("rosetta_manifest_polls", "Manifest reads by the hot-reload poller",
                         ["result"])  # result: unchanged | applied | error
LAST_RELOAD = Gauge("rosetta_last_reload_timestamp_seconds", "When the served set last changed (Unix time)",
                    multiprocess_mode="livemax")

UNKNOWN = "_unknown"


async def metrics_handler(request: Request) -> Response:
    """GET /metrics: this process's registry, or every worker's when they share a multiprocess directory."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    encoder, content_type = exposition.choose_encoder(request.headers.get("accept"))
    return Response(content=encoder(registry), headers={"content-type": content_type})


class ModelLabels:
    """Maps a requested model name onto a bounded label set."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    def add(self, name: str) -> None:
        """A model that appeared in the manifest while serving (still a bounded set: the manifest's names)."""
        self.names = self.names | {name}

    def __call__(self, name: str | None) -> str:
        if not name:
            return ""
        return name if name in self.names else UNKNOWN


def _rest_route(path: str) -> tuple[str, str | None]:
    """(protocol, requested model name or None) from a REST path."""
    parts = path.split("/")
    if len(parts) >= 4 and parts[1] == "v2" and parts[2] == "models":
        return "v2-rest", parts[3]
    if len(parts) >= 4 and parts[1] == "v1" and parts[2] == "models":
        return "tfserving-rest", parts[3].split(":", 1)[0]
    if parts[1:2] == ["v2"]:
        return "v2-rest", None
    return "other", None


class RestMetricsMiddleware:
    """Pure ASGI (no per-request task or body copy): counts every HTTP response and times it."""

    def __init__(self, app: Any, labels: ModelLabels) -> None:
        self.app = app
        self.labels = labels

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        protocol, name = _rest_route(scope["path"])
        model = self.labels(name)
        status = 500  # if the app raises before answering, the client gets kserve's 500
        start = time.perf_counter()

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            REQUESTS.labels(model, protocol, str(status)).inc()
            LATENCY.labels(model, protocol).observe(time.perf_counter() - start)


class GrpcMetricsInterceptor(aio.ServerInterceptor):
    """Counts and times unary gRPC calls by final status code; the model comes from the request message."""

    def __init__(self, labels: ModelLabels) -> None:
        self.labels = labels

    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        labels = self.labels

        async def observed(request: Any, context: aio.ServicerContext) -> Any:
            start = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await inner(request, context)
                code = context.code() or grpc.StatusCode.OK
                return response
            except asyncio.CancelledError:
                # the client went away (cancelled or reset the stream): its status, not a server fault
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                model = labels(getattr(request, "model_name", None) or getattr(request, "name", None))
                name = code.name if isinstance(code, grpc.StatusCode) else str(code)
                REQUESTS.labels(model, "v2-grpc", name).inc()
                LATENCY.labels(model, "v2-grpc").observe(time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(observed, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)
