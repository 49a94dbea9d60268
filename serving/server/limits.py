"""Request body size limit for the REST server: 413 with a JSON message, before the body is parsed."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson


def _reject_message(limit: int, size: int | None) -> bytes:
    got = f"of {size} bytes " if size is not None else ""
    return orjson.dumps({"error": f"request body {got}exceeds the limit of {limit} bytes"})



def replaying(body: bytes, receive: Callable) -> Callable:
    """An ASGI `receive` that hands the app a body already read, whole, then defers to the real one (for the
    disconnect message)."""
    replayed = False

    async def replay() -> dict:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

class BodySizeLimitMiddleware:
    """A declared Content-Length over the limit is refused without reading the body; a chunked body is
    buffered up to the limit (FastAPI buffers whole bodies anyway) and refused as soon as it passes it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                length = int(value) if value.isdigit() else -1
                break
        if length is not None:
            if length > self.max_bytes:
                return await self._reject(send, length)
            return await self.app(scope, receive, send)  # the HTTP parser never delivers past Content-Length
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # client disconnected mid-body
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._reject(send, None)
            if not message.get("more_body", False):
                break
        await self.app(scope, replaying(b"".join(chunks), receive), send)

    async def _reject(self, send: Callable, size: int | None) -> None:
        body = _reject_message(self.max_bytes, size)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
