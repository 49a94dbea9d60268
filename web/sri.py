"""Subresource Integrity: every <script src> and <link href> of a page gets the sha384 of the file it names."""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

from rosetta.web.catalog import SiteError

_TAG = re.compile(r"<(script|link)\b[^>]*>", re.IGNORECASE)
_URL_ATTR = re.compile(r"""\s(src|href)=(["'])([^"']+)\2""", re.IGNORECASE)
_INTEGRITY = re.compile(r"""\sintegrity=(["'])[^"']*\1""", re.IGNORECASE)


def integrity(data: bytes, algorithm: str = "sha384") -> str:
    return f"{algorithm}-{base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def add_integrity(html: str, page_dir: Path) -> str:
    """Set integrity on each script/link tag with a URL, hashing the file it resolves to below page_dir.

    A URL that leaves the site (scheme, host, or a missing file) is an error: the pages load nothing remote.
    data: URLs (the empty favicon) fetch nothing and are left alone.
    """
    def rewrite(match: re.Match[str]) -> str:
        tag = match.group(0)
        url = _URL_ATTR.search(tag)
        if url is None:
            return tag  # an inline <script>: nothing to fetch
        parts = urlsplit(url.group(3))
        if parts.scheme == "data":
            return tag
        if parts.scheme or parts.netloc or parts.path.startswith("/"):
            raise SiteError(f"{page_dir}: {url.group(3)!r} is not a relative URL inside the site")
        target = (page_dir / parts.path).resolve()
        if not target.is_file():
            raise SiteError(f"{page_dir}: {url.group(3)!r} names no file of the site")
        tag = _INTEGRITY.sub("", tag)
        close = "/>" if tag.endswith("/>") else ">"
        return f'{tag[:-len(close)].rstrip()} integrity="{integrity(target.read_bytes())}"{close}'

    return _TAG.sub(rewrite, html)
