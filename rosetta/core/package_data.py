"""Where the files shipped with the package are: the MNIST IDX files and the JavaScript runtimes' directory.

Both resolve through the installed package (a wheel's `rosetta/datasets/`, `rosetta/js/`; the repository's
`data/`, `js/` in a source checkout), so nothing assumes the current directory or a checkout. The JavaScript
packages themselves (node_modules) are not in the wheel: `make node` puts them beside the scripts in a checkout,
`rosetta setup-js` into a directory of the user's (ROSETTA_JS_DIR names it).
"""
from __future__ import annotations

import filecmp
import os
from importlib import resources
from pathlib import Path

JS_DIR_ENV = "ROSETTA_JS_DIR"
DEFAULT_JS_DIR = Path.home() / ".cache" / "rosetta" / "js"  # `rosetta setup-js` installs here by default
JS_MANIFESTS = ("package.json", "package-lock.json")


class JsRuntimeMissing(RuntimeError):
    """No directory holds the JavaScript runtimes (node_modules) next to the package's scripts."""


def _package_dir(package: str) -> Path:
    return Path(str(resources.files(package)))


def mnist_dir() -> Path:
    """The MNIST IDX files shipped with the package."""
    return _package_dir("rosetta.datasets") / "mnist"


def js_sources() -> Path:
    """The package's own JS directory: the .mjs runners and package.json + package-lock.json."""
    return _package_dir("rosetta.js")


def js_scripts() -> list[Path]:
    return sorted(js_sources().glob("*.mjs"))


def _is_current(directory: Path) -> bool:
    """`directory` has node_modules and the package's scripts and manifests, byte for byte."""
    names = [*JS_MANIFESTS, *(p.name for p in js_scripts())]
    return (directory / "node_modules").is_dir() and all(
        (directory / n).is_file() and filecmp.cmp(directory / n, js_sources() / n, shallow=False) for n in names)


def js_dir() -> Path:
    """The directory to run the JS runners in: $ROSETTA_JS_DIR, else the package's own (a checkout after
    `make node`), else ~/.cache/rosetta/js (`rosetta setup-js`). Raises JsRuntimeMissing naming the fix."""
    configured = os.environ.get(JS_DIR_ENV)
    candidates = [Path(configured)] if configured else [js_sources(), DEFAULT_JS_DIR]
    for candidate in candidates:
        if candidate.resolve() == js_sources().resolve() and (candidate / "node_modules").is_dir():
            return candidate
        if _is_current(candidate):
            return candidate
    where = f"{JS_DIR_ENV}={configured}" if configured else f"{js_sources()} or {DEFAULT_JS_DIR}"
    raise JsRuntimeMissing(f"no JavaScript runtimes (TF.js, onnxruntime-web) in {where}, or they are not this "
                           f"package's: run `rosetta setup-js` (npm ci; set {JS_DIR_ENV} for another directory)")
