"""Error answers: {"error": "..."} with a 4xx for client mistakes (logged at debug, no traceback, so a flood
of bad requests cannot flood the log), 5xx with a traceback only for the server's own failures."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from grpc import StatusCode, aio
from kserve.errors import (
    InferenceError,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    ServerNotLive,
    ServerNotReady,
    UnsupportedProtocol,
)
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor
from starlette.exceptions import HTTPException

log = logging.getLogger("rosetta.serving.errors")

# exception -> HTTP status, for the exceptions raised for a request the client got wrong
CLIENT_ERRORS: list[tuple[type[Exception], int]] = [
    (InvalidInput, HTTPStatus.BAD_REQUEST),
    (ModelNotFound, HTTPStatus.NOT_FOUND),
]
UNAVAILABLE = (ModelNotReady, ServerNotReady, ServerNotLive)


def _answer(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"error": message}), status_code=status, headers=headers,
                    media_type="application/json")


def _client_handler(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, exc: Exception) -> Response:
        log.debug("%s %s -> %d: %s", request.method, request.url.path, status, exc)
        return _answer(status, str(exc))
    return handler


async def _unavailable(_: Request, exc: Exception) -> Response:
    return _answer(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))


async def _not_implemented(_: Request, exc: Exception) -> Response:
    return _answer(HTTPStatus.NOT_IMPLEMENTED, str(exc) or "not implemented")


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _answer(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(exc).__name__}")


async def _validation(_: Request, exc: RequestValidationError) -> Response:
    """FastAPI's 422 {"detail": [...]} becomes 400 {"error": "..."} like every other client error."""
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        problems.append(f"{where}: {err.get('msg', 'invalid')}")
    return _answer(HTTPStatus.BAD_REQUEST, "invalid request: " + "; ".join(problems))


async def _http(request: Request, exc: HTTPException) -> Response:
    """Starlette's routing errors ({"detail": "Not Found"}) in the protocols' format, naming the route."""
    generic = {404: f"no such route: {request.method} {request.url.path}",
               405: f"method {request.method} not allowed on {request.url.path}"}
    detail = exc.detail if exc.detail not in ("Not Found", "Method Not Allowed") else None
    return _answer(exc.status_code, detail or generic.get(exc.status_code, str(exc.detail)), exc.headers)


def add_rest_error_handlers(app: FastAPI) -> None:
    for exc_type, status in CLIENT_ERRORS:
        app.add_exception_handler(exc_type, _client_handler(status))
    for exc_type in UNAVAILABLE:
        app.add_exception_handler(exc_type, _unavailable)
    app.add_exception_handler(NotImplementedError, _not_implemented)
    app.add_exception_handler(UnsupportedProtocol, _not_implemented)
    app.add_exception_handler(InferenceError, _server_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _server_error)


class QuietExceptionToStatus(ExceptionToStatusInterceptor):
    """kserve's mapping to gRPC status codes, minus its traceback log line for every client error."""

    async def handle_exception(self, ex: Exception, request_or_iterator: Any, context: aio.ServicerContext,
                               method_name: str) -> None:
        if isinstance(ex, InvalidInput):
            log.debug("%s -> INVALID_ARGUMENT: %s", method_name, ex)
            await context.abort(StatusCode.INVALID_ARGUMENT, str(ex))
        if isinstance(ex, ModelNotFound):
            log.debug("%s -> NOT_FOUND: %s", method_name, ex)
            await context.abort(StatusCode.NOT_FOUND, str(ex))
        if isinstance(ex, ModelNotReady):  # e.g. a model that could not be loaded: the message says why
            log.debug("%s -> UNAVAILABLE: %s", method_name, ex)
            await context.abort(StatusCode.UNAVAILABLE, str(ex))
        await super().handle_exception(ex, request_or_iterator, context, method_name)
