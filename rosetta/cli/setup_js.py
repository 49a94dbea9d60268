"""`rosetta setup-js`: install the pinned JavaScript runtimes (TF.js, onnxruntime-web) that validate browser
artifacts and feed the demo, for an installed package (a checkout uses `make node`)."""
from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from rosetta.cli.common import UsageError, console
from rosetta.core.package_data import DEFAULT_JS_DIR, JS_DIR_ENV, JS_MANIFESTS, js_scripts, js_sources


def add_parser(sub: argparse._SubParsersAction) -> None:
    setup = sub.add_parser("setup-js", help="install the pinned JS runtimes (npm ci) for TF.js validation and the "
                                            "demo")
    setup.add_argument("--dir", type=Path, default=DEFAULT_JS_DIR,
                       help=f"where (default: %(default)s; another directory needs {JS_DIR_ENV}=DIR at run time)")
    setup.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    npm = shutil.which("npm")
    if npm is None:
        raise UsageError("npm not found: install Node.js 20+ (with npm) first")
    target = args.dir.expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    for f in [*(js_sources() / n for n in JS_MANIFESTS), *js_scripts()]:
        shutil.copyfile(f, target / f.name)
    console.print(f"npm ci in {target} (the versions package-lock.json pins)")
    if subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=target).returncode != 0:
        raise UsageError(f"npm ci failed in {target} (above)")
    hint = "" if target == DEFAULT_JS_DIR.resolve() else f"; set {JS_DIR_ENV}={target} where rosetta runs"
    console.print(f"JS runtimes ready in {target}{hint}", highlight=False)
    return 0
