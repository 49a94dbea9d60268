"""`rosetta site`: the download page and browser demo; `--serve` serves it on 127.0.0.1."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rosetta import contract
from rosetta.cli.common import console


def add_parser(sub: argparse._SubParsersAction) -> None:
    site = sub.add_parser("site", help="build the download page and browser demo; --serve serves it on 127.0.0.1")
    site.add_argument("--artifacts", type=Path, default=None, help="dir with manifest.json (default: --out)")
    site.add_argument("--site-dir", type=Path, default=None, help="where the site goes (default: <artifacts>/site)")
    site.add_argument("--serve", action="store_true",
                      help="serve the site (built first if missing) on 127.0.0.1 until Ctrl-C")
    site.add_argument("--port", type=int, default=8000, help="port for --serve (0: any free port)")
    site.set_defaults(func=run)


def builtin_examples(artifacts_dir: Path, data_dir: Path) -> dict:
    """The demo's example buttons for built-in models: the MNIST test split they were validated on."""
    from rosetta.core import manifest
    from rosetta.core.manifest import ManifestError
    from rosetta.exporters.pipeline import SOURCE_OUTPUTS
    from rosetta.mnist import DataError, load_split
    from rosetta.web.examples import from_validation

    builtin = {contract.served_name(m, lane) for m in contract.BUILTIN_MODELS for lane in contract.LANES}
    try:
        current = manifest.load(artifacts_dir)
    except ManifestError:
        return {}  # the site build names the problem
    newest = {}  # the newest version the site offers, per built-in model: its reference outputs
    for e in current.latest():
        if e.model_name in builtin and e.ok:
            if e.model_name not in newest or e.version > newest[e.model_name].version:
                newest[e.model_name] = e
    if not newest:
        return {}
    try:
        test = load_split("test", data_dir)
    except DataError as exc:  # the demo still works for drawing; only its example buttons go
        print(f"rosetta: warning: no examples for the demo ({exc})", file=sys.stderr)
        return {}
    out = {}
    for name, entry in newest.items():
        head = entry.spec.classifier_output
        output = head.name if head is not None else entry.spec.output_names[0]
        out[name] = from_validation(entry.version_file(artifacts_dir, SOURCE_OUTPUTS), output, test.images,
                                    test.labels)
    return out


def run(args: argparse.Namespace) -> int:
    from rosetta.web.catalog import SiteError
    from rosetta.web.serve import serve
    from rosetta.web.site import build_site

    artifacts = args.artifacts or args.out
    site_dir = args.site_dir or artifacts / "site"
    try:
        if not args.serve or not (site_dir / "index.json").is_file():
            build_site(artifacts, site_dir, builtin_examples(artifacts, args.data_dir))
            console.print(f"site built: {site_dir / 'index.html'} (opens from disk; the demo needs "
                          "`rosetta site --serve`)", highlight=False)
        if args.serve:
            return serve(site_dir, args.port)
    except SiteError as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 2
    return 0
