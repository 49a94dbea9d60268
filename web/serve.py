"""`rosetta site --serve`: the built site on 127.0.0.1 with the MIME types browsers insist on, read-only.

The demo needs http(s): browsers refuse a page opened from disk its fetches and its WebAssembly. This is a
tiny standard-library server for one person's browser, not a production server (that is serving/).
"""
from __future__ import annotations

import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TextIO

from rosetta.web.catalog import SiteError

HOST = "127.0.0.1"  # loopback only: the site is for this machine's browser
DEFAULT_PORT = 8000
# Module scripts and compiled wasm are refused under other types; some systems' mime tables lack them.
MIME_TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
              ".json": "application/json", ".css": "text/css", ".html": "text/html; charset=utf-8",
              ".tflite": "application/octet-stream", ".onnx": "application/octet-stream",
              ".bin": "application/octet-stream", ".zip": "application/zip", ".pte": "application/octet-stream",
              ".xml": "application/xml"}


class SiteHandler(SimpleHTTPRequestHandler):
    """GET/HEAD of files below the site dir (SimpleHTTPRequestHandler answers 501 to other methods)."""
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def __init__(self, *args, log: TextIO | None = None, **kwargs) -> None:
        self._log = log
        super().__init__(*args, **kwargs)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")  # a rebuilt site must not mix with cached old files
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's signature)
        if self._log is not None:
            self._log.write(f"{self.address_string()} {format % args}\n")


def make_server(site_dir: Path, port: int = DEFAULT_PORT, log: TextIO | None = None) -> ThreadingHTTPServer:
    site_dir = Path(site_dir)
    if not (site_dir / "index.json").is_file():
        raise SiteError(f"{site_dir}: no index.json; build the site first (`rosetta site`)")
    handler = functools.partial(SiteHandler, directory=str(site_dir.resolve()), log=log)
    try:
        return ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise SiteError(f"cannot listen on {HOST}:{port} ({exc.strerror}); choose another --port") from None


def serve(site_dir: Path, port: int = DEFAULT_PORT, out: TextIO = sys.stdout) -> int:
    """Serve until interrupted; prints the address (with the actual port when port is 0)."""
    server = make_server(site_dir, port, log=sys.stderr)
    url = f"http://{HOST}:{server.server_address[1]}/"
    print(f"serving {site_dir} at {url} (demo: {url}demo/); Ctrl-C stops", file=out, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
