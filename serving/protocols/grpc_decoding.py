"""gRPC request bytes that do not decode as the method's request message get INVALID_ARGUMENT with a message.

grpcio calls the method's deserializer before any handler or interceptor code runs and answers a failure
with INTERNAL ("Exception deserializing request!"), a server error for what is the client's mistake. This
interceptor swaps in a deserializer that returns the failure as a value instead, and a handler that answers
it with INVALID_ARGUMENT before the servicer sees it.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

log = logging.getLogger(__name__)


class Undecodable:
    """What a request that failed to decode becomes."""

    def __init__(self, error: str) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # protobuf's DecodeError, or anything a malformed message makes it raise
            return Undecodable(f"{type(exc).__name__}: {exc}")

    return decode


class MalformedMessageInterceptor(aio.ServerInterceptor):
    async def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = details.method

        async def checked(request: Any, context: aio.ServicerContext) -> Any:
            if isinstance(request, Undecodable):
                log.debug("%s -> INVALID_ARGUMENT: undecodable request (%s)", method, request.error)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"request is not a valid {method.rsplit('/', 1)[-1]} request message: "
                                    f"{request.error}")
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(checked,
                                                   request_deserializer=_tolerant(handler.request_deserializer),
                                                   response_serializer=handler.response_serializer)
