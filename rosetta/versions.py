"""Tool versions, recorded in every manifest."""
from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

JS_MODULES = Path(__file__).resolve().parent.parent / "js" / "node_modules"


def version(name: str) -> str:
    """Installed version of a Python distribution, or of an npm package in js/ when named 'node:<pkg>'."""
    if name.startswith("node:"):
        package_json = JS_MODULES / name.removeprefix("node:") / "package.json"
        return json.loads(package_json.read_text())["version"] if package_json.is_file() else "absent"
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def versions(*names: str) -> dict[str, str]:
    """Versions of the named packages, plus Python and numpy."""
    return {"python": platform.python_version(), **{n: version(n) for n in ("numpy", *names)}}
