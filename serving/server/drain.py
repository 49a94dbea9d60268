"""Draining REST connections on SIGTERM without failing a request already on its way.

uvicorn's graceful shutdown stops accepting, lets requests in progress finish, and closes every idle keep-alive
connection at once. But an "idle" connection may have the client's next request already on the wire: closing it
then resets that request (measured under wrk: socket errors at every restart). This protocol answers such a
request instead, with `Connection: close`, and closes a connection that stays idle for IDLE_LINGER_S. A client
then reconnects, and its new connection lands on a server still accepting (another worker, or the new server
sharing the port with SO_REUSEPORT).
"""
from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

IDLE_LINGER_S = 1.0  # longer than a client takes to send its next request on a busy connection


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    draining = False

    def shutdown(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.draining = True  # answer what arrives next with Connection: close
            self.loop.call_later(IDLE_LINGER_S, self._close_if_idle)
        else:
            self.cycle.keep_alive = False  # uvicorn's own: close once this response is sent

    def _close_if_idle(self) -> None:
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False
