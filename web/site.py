"""Build the static download site + browser demo from an artifacts dir (served by serving.artifact_site).

    python -m web.site --artifacts artifacts --out artifacts/site

The bundle: index.json and index.html (every tflite-int8 / tflite-fp32 / tfjs / onnx artifact per lane with
size, sha256, accuracy and parity from the manifest, load snippets), models/ (verified copies),
downloads/mnist-<lane>-mobile-web.zip, demo/ (the drawing page, its digits.json and the browser runtimes
copied from js/node_modules). Built in a temp dir beside the target and renamed over it.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from rosetta.atomic import atomic_dir
from rosetta.data import DataError
from web.archive import write_archive
from web.catalog import SiteError, collect
from web.digits import test_digits
from web.listing import build_index
from web.render import render_index
from web.sri import add_integrity
from web.stage import stage
from web.vendor import copy_runtimes

HERE = Path(__file__).resolve().parent
INDEX_JSON = "index.json"
PAGES = ("index.html", "demo/index.html")  # each gets integrity hashes on its scripts and stylesheets


def _check_target(artifacts_dir: Path, out_dir: Path) -> None:
    """The build replaces out_dir whole: refuse anything that is not a previous build of the site."""
    a, o = artifacts_dir.resolve(), out_dir.resolve()
    if o == a or o in a.parents:
        raise SiteError(f"{out_dir}: would replace the artifacts dir {artifacts_dir}; "
                        f"choose e.g. {artifacts_dir / 'site'}")
    if o.exists() and (not o.is_dir() or (any(o.iterdir()) and not (o / INDEX_JSON).is_file())):
        raise SiteError(f"{out_dir}: exists and is not a site built by web.site (no {INDEX_JSON}); not replacing it")


def build_site(artifacts_dir: Path, out_dir: Path) -> Path:
    """Build the bundle for artifacts_dir's manifest into out_dir (atomically); returns out_dir."""
    artifacts_dir, out_dir = Path(artifacts_dir), Path(out_dir)
    catalogue = collect(artifacts_dir)
    _check_target(artifacts_dir, out_dir)
    with atomic_dir(out_dir) as site:
        for artifact in catalogue.artifacts:
            stage(artifact, site)
        archives = {lane: write_archive(catalogue, lane, site) for lane in catalogue.lanes}
        shutil.copyfile(HERE / "static" / "style.css", site / "style.css")
        shutil.copytree(HERE / "demo", site / "demo")
        runtimes = copy_runtimes(site)
        try:
            digits = test_digits(artifacts_dir, catalogue.lanes)
        except DataError as exc:  # the demo still works for drawing; only its test-digit buttons go
            print(f"warning: no test digits for the demo ({exc})", file=sys.stderr)
            digits = {"split": "test", "images": []}
        _write_json(site / "demo" / "digits.json", digits, indent=None)
        index = build_index(catalogue, site, archives, runtimes)
        _write_json(site / INDEX_JSON, index)
        (site / "index.html").write_text(render_index(catalogue, index), encoding="utf-8")
        for page in PAGES:
            path = site / page
            path.write_text(add_integrity(path.read_text(encoding="utf-8"), path.parent), encoding="utf-8")
        site.chmod(0o755)  # mkdtemp makes it 0700; a server running as another user must read it
    return out_dir


def _write_json(path: Path, payload: Any, indent: int | None = 2) -> None:
    path.write_text(json.dumps(payload, indent=indent) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"), help="dir with manifest.json")
    parser.add_argument("--out", type=Path, default=None, help="site dir (default: <artifacts>/site)")
    args = parser.parse_args(argv)
    try:
        out = build_site(args.artifacts, args.out or args.artifacts / "site")
    except SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"site built: {out}/index.html (demo: {out}/demo/index.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
