"""Tool versions, recorded in every manifest."""
from __future__ import annotations

import platform
from importlib import metadata


def versions(*distributions: str) -> dict[str, str]:
    """Installed versions of the named distributions (plus Python and numpy), 'absent' if missing."""
    found = {"python": platform.python_version()}
    for name in ("numpy", *distributions):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found
