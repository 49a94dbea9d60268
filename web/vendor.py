"""The browser runtimes the demo loads, copied byte for byte from the JS runtimes' node_modules (no CDN at run
time)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rosetta.core.package_data import JsRuntimeMissing, js_dir, js_sources
from rosetta.web.catalog import SiteError
from rosetta.web.sri import integrity

# npm package -> files of it the demo needs. ORT's UMD build imports its Emscripten glue (.mjs) and
# instantiates the .wasm beside it; the "threaded" build is the only one shipped and runs with 1 thread.
RUNTIME_FILES: dict[str, tuple[str, ...]] = {
    "@tensorflow/tfjs": ("dist/tf.min.js",),
    "onnxruntime-web": ("dist/ort.wasm.min.js", "dist/ort-wasm-simd-threaded.mjs",
                        "dist/ort-wasm-simd-threaded.wasm"),
}


def copy_runtimes(site: Path, subdir: str = "demo/vendor", node_modules: Path | None = None) -> dict[str, Any]:
    """Copy RUNTIME_FILES into site/subdir, checked against the package's package.json pins.

    Returns {package: {"version", "license", "files": [{"url", "bytes", "integrity"}]}}: the demo fetches the
    .wasm with that integrity (no <link> can carry SRI for a plain fetch).
    """
    if node_modules is None:
        try:
            node_modules = js_dir() / "node_modules"
        except JsRuntimeMissing as exc:
            raise SiteError(str(exc)) from None
    pins = json.loads((js_sources() / "package.json").read_text())["dependencies"]
    dest = site / subdir
    dest.mkdir(parents=True, exist_ok=True)
    packages = {}
    for package, files in RUNTIME_FILES.items():
        meta_path = node_modules / package / "package.json"
        if not meta_path.is_file():
            raise SiteError(f"{meta_path}: missing; install the pinned JS runtimes with `rosetta setup-js` (`make node` in a checkout)")
        meta = json.loads(meta_path.read_text())
        if package in pins and pins[package] != meta["version"]:
            raise SiteError(f"{node_modules / package}: version {meta['version']} but the package pins "
                            f"{pins[package]}; run `rosetta setup-js` (`make node` in a checkout)")
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
