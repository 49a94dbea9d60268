"""`rosetta prune`: apply the retention policy by hand (exports apply it to what they publish)."""
from __future__ import annotations

import argparse
from pathlib import Path

from rosetta.cli.common import console
from rosetta.core.arg_types import positive_int
from rosetta.core.retention import KEEP_NEWEST


def add_parser(sub: argparse._SubParsersAction) -> None:
    prune = sub.add_parser(
        "prune", help="remove old versions (keeping stable, canary and the newest N) and killed exports' staging dirs",
        description="Each model keeps its stable and canary versions and its newest N; the others' manifest entries "
                    "and files are removed. Staging dirs left by killed exports are removed too; one a running "
                    "export is writing is not.")
    prune.add_argument("models", nargs="*", metavar="MODEL", help="only these models (default: all)")
    prune.add_argument("--keep", type=positive_int, default=KEEP_NEWEST, metavar="N",
                       help=f"newest versions kept besides the labelled ones (default {KEEP_NEWEST})")
    prune.add_argument("--artifacts", type=Path, default=None, help="dir with manifest.json (default: --out)")
    prune.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rosetta.core import retention
    from rosetta.exporters.report import write_report

    out = args.artifacts or args.out
    pruned = retention.prune(out, args.models or None, args.keep)
    for name, versions in sorted(pruned.versions.items()):
        console.print(f"{name}: removed version(s) {', '.join(map(str, versions))}", highlight=False)
    for path in pruned.staging:
        console.print(f"removed stale staging dir {path}", highlight=False)
    if any(pruned.versions.values()):
        write_report(out)
    if not pruned:
        console.print(f"nothing to prune in {out} (keeping labelled versions and the newest {args.keep})")
    return 0
