"""Build the static download site + browser demo from an artifacts dir (served by serving.server.artifact_site, or by
`rosetta site --serve`).

    rosetta site                      # or: python -m rosetta.web.site --artifacts artifacts --out artifacts/site

The bundle: index.json and index.html (every tflite-int8 / tflite-fp32 / tfjs / onnx artifact of every model in
the manifest with size, sha256, accuracy, parity, tensors and load snippets), models/<model>/<format>/ (verified
copies), downloads/<model>-mobile-web.zip, demo/ (the drawing page, per-model examples and the browser runtimes
copied from js/node_modules). Built in a temp dir beside the target and renamed over it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rosetta.core.atomic import atomic_dir
from rosetta.web.archive import write_archive
from rosetta.web.catalog import Catalogue, SiteError, collect
from rosetta.web.drawable import drawing_demo
from rosetta.web.examples import Examples, examples_json
from rosetta.web.listing import build_index
from rosetta.web.render import render_index
from rosetta.web.sri import add_integrity, integrity
from rosetta.web.stage import stage
from rosetta.web.vendor import copy_runtimes

HERE = Path(__file__).resolve().parent
INDEX_JSON = "index.json"
DEMO_SCRIPTS = ("vendor/tf.min.js", "vendor/ort.wasm.min.js", "demo.js")  # demo/-relative, in load order
ORT_GLUE = "vendor/ort-wasm-simd-threaded.mjs"


def _check_target(artifacts_dir: Path, out_dir: Path) -> None:
    """The build replaces out_dir whole: refuse anything that is not a previous build of the site."""
    a, o = artifacts_dir.resolve(), out_dir.resolve()
    if o == a or o in a.parents:
        raise SiteError(f"{out_dir}: would replace the artifacts dir {artifacts_dir}; "
                        f"choose e.g. {artifacts_dir / 'site'}")
    if o.exists() and (not o.is_dir() or (any(o.iterdir()) and not (o / INDEX_JSON).is_file())):
        raise SiteError(f"{out_dir}: exists and is not a site built by web.site (no {INDEX_JSON}); not replacing it")


def _write_examples(catalogue: Catalogue, examples: Mapping[str, Examples], site: Path) -> dict[str, str]:
    urls = {}
    for model in catalogue.models:
        plan = drawing_demo(model.spec)
        if model.name not in examples or isinstance(plan, str):
            continue
        url = f"demo/examples/{model.name}.json"
        (site / url).parent.mkdir(parents=True, exist_ok=True)
        _write_json(site / url, examples_json(examples[model.name], plan), indent=None)
        urls[model.name] = url
    return urls


def _demo_page(demo_dir: Path) -> str:
    """demo/index.html with the stylesheets inlined and the SRI-checked asset list its loader reads."""
    html = (HERE / "demo" / "index.html").read_text(encoding="utf-8")
    style = (HERE / "static" / "style.css").read_text() + (HERE / "demo" / "demo.css").read_text()
    assets = [{"kind": "modulepreload", "url": ORT_GLUE}]
    assets += [{"kind": "script", "url": url} for url in DEMO_SCRIPTS]
    for asset in assets:
        asset["integrity"] = integrity((demo_dir / asset["url"]).read_bytes())
    # "</" cannot occur in these URLs or hashes, so the JSON is safe inside <script>
    return html.replace("/*STYLE*/", style).replace("/*ASSETS*/[]", json.dumps(assets))


def build_site(artifacts_dir: Path, out_dir: Path, examples: Mapping[str, Examples] | None = None) -> Path:
    """Build the bundle for artifacts_dir's manifest into out_dir (atomically); returns out_dir.

    examples: model name -> validation inputs for the demo's example buttons (optional).
    """
    artifacts_dir, out_dir = Path(artifacts_dir), Path(out_dir)
    catalogue = collect(artifacts_dir)
    _check_target(artifacts_dir, out_dir)
    with atomic_dir(out_dir) as site:
        for artifact in catalogue.artifacts:
            stage(artifact, site)
        archives = {m.name: write_archive(catalogue, m, site) for m in catalogue.models}
        demo = site / "demo"
        demo.mkdir()
        shutil.copyfile(HERE / "demo" / "demo.js", demo / "demo.js")
        runtimes = copy_runtimes(site)
        example_urls = _write_examples(catalogue, examples or {}, site)
        index = build_index(catalogue, site, archives, runtimes, example_urls)
        _write_json(site / INDEX_JSON, index)
        pages = {site / "index.html": render_index(catalogue, index), demo / "index.html": _demo_page(demo)}
        for path, html in pages.items():
            # the pages carry no <script src>/<link href> (they must open from disk); this keeps it checked
            path.write_text(add_integrity(html, path.parent), encoding="utf-8")
        site.chmod(0o755)  # mkdtemp makes it 0700; a server running as another user must read it
    return out_dir


def _write_json(path: Path, payload: Any, indent: int | None = 2) -> None:
    path.write_text(json.dumps(payload, indent=indent) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rosetta.web.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="dir with manifest.json")
    parser.add_argument("--out", type=Path, default=None, help="site dir (default: <artifacts>/site)")
    args = parser.parse_args(argv)
    try:
        out = build_site(args.artifacts, args.out or args.artifacts / "site")
    except SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"site built: {out}/index.html (demo: `rosetta site --serve`, then /demo/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
