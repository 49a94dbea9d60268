"""The artifact download page (built by `python -m rosetta.web.site`), served read-only at /artifacts/."""
from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

INDEX_JSON = "index.json"
MOUNT_PATH = "/artifacts"


class SiteNotBuilt(Exception):
    """The directory is not a built download site."""


def mount(app: Any, site_dir: Path, path: str = MOUNT_PATH) -> None:
    """Serve a built site read-only (GET/HEAD only) at `path` on a Starlette/FastAPI app."""
    from starlette.staticfiles import StaticFiles

    site_dir = Path(site_dir)
    if not (site_dir / INDEX_JSON).is_file():
        raise SiteNotBuilt(f"{site_dir}: no {INDEX_JSON}; build it with `python -m rosetta.web.site --out {site_dir}`")
    # Module scripts and streamed wasm are refused under other MIME types; some systems' tables lack these.
    mimetypes.add_type("text/javascript", ".mjs")
    mimetypes.add_type("application/wasm", ".wasm")
    app.mount(path, StaticFiles(directory=site_dir, html=True), name="artifacts-site")
