"""The browser runtimes the demo loads, copied byte for byte from js/node_modules (no CDN at run time)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rosetta.versions import JS_MODULES
from web.catalog import SiteError
from web.sri import integrity

# npm package -> files of it the demo needs. ORT's UMD build imports its Emscripten glue (.mjs) and
# instantiates the .wasm beside it; the "threaded" build is the only one shipped and runs with 1 thread.
RUNTIME_FILES: dict[str, tuple[str, ...]] = {
    "@tensorflow/tfjs": ("dist/tf.min.js",),
    "onnxruntime-web": ("dist/ort.wasm.min.js", "dist/ort-wasm-simd-threaded.mjs",
                        "dist/ort-wasm-simd-threaded.wasm"),
}
PACKAGE_JSON = JS_MODULES.parent / "package.json"


def copy_runtimes(site: Path, subdir: str = "demo/vendor", node_modules: Path = JS_MODULES) -> dict[str, Any]:
    """Copy RUNTIME_FILES into site/subdir, checked against js/package.json's pins.

    Returns {package: {"version", "license", "files": [{"url", "bytes", "integrity"}]}}: the demo fetches the
    .wasm with that integrity (no <link> can carry SRI for a plain fetch).
    """
    pins = json.loads(PACKAGE_JSON.read_text()).get("dependencies", {}) if PACKAGE_JSON.is_file() else {}
    dest = site / subdir
    dest.mkdir(parents=True, exist_ok=True)
    packages = {}
    for package, files in RUNTIME_FILES.items():
        meta_path = node_modules / package / "package.json"
        if not meta_path.is_file():
            raise SiteError(f"{meta_path}: missing; install the pinned JS runtimes with `make node` (npm ci in js/)")
        meta = json.loads(meta_path.read_text())
        if package in pins and pins[package] != meta["version"]:
            raise SiteError(f"{node_modules / package}: version {meta['version']} but js/package.json pins "
                            f"{pins[package]}; run `make node`")
        copied = []
        for rel in files:
            src = node_modules / package / rel
            if not src.is_file():
                raise SiteError(f"{src}: missing from {package} {meta['version']}")
            shutil.copyfile(src, dest / src.name)
            data = (dest / src.name).read_bytes()
            copied.append({"url": f"{subdir}/{src.name}", "bytes": len(data), "integrity": integrity(data)})
        packages[package] = {"version": meta["version"], "license": meta.get("license", ""), "files": copied}
    return packages
