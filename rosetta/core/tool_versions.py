"""Tool versions, recorded in every manifest."""
from __future__ import annotations

import json
import platform
from importlib import metadata

from rosetta.core.package_data import JsRuntimeMissing, js_dir


def version(name: str) -> str:
    """Installed version of a Python distribution, or of a JS runtime package when named 'node:<pkg>'."""
    if name.startswith("node:"):
        try:
            package_json = js_dir() / "node_modules" / name.removeprefix("node:") / "package.json"
        except JsRuntimeMissing:
            return "absent"
        return json.loads(package_json.read_text())["version"] if package_json.is_file() else "absent"
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def versions(*names: str) -> dict[str, str]:
    """Versions of the named packages, plus Python and numpy."""
    return {"python": platform.python_version(), **{n: version(n) for n in ("numpy", *names)}}
