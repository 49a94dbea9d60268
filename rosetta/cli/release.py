"""`rosetta release`: move a model's stable/canary labels and retire versions (what the servers serve)."""
from __future__ import annotations

import argparse
from pathlib import Path

from rosetta.cli.common import UsageError, console
from rosetta.core.arg_types import positive_int


def _canary(text: str) -> int | str:
    if text == "none":
        return text
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer (a version) or none, got {text}")
    return int(text)


def add_parser(sub: argparse._SubParsersAction) -> None:
    release = sub.add_parser(
        "release", help="move a model's stable/canary labels and retire versions (what the servers serve)",
        description="Edits the manifest's release record of MODEL. A label points at a version with an ok artifact "
                    "that is not retired; a labelled version cannot be retired. Servers serve every ok, "
                    "non-retired version; unversioned requests go to the latest one.")
    release.add_argument("model", metavar="MODEL", help="the model's name in the manifest (e.g. mnist-mlp-torch)")
    release.add_argument("--stable", type=positive_int, default=None, metavar="N", help="label version N stable")
    release.add_argument("--canary", type=_canary, default=None, metavar="N|none",
                         help="label version N canary, or drop the canary label")
    release.add_argument("--retire", type=positive_int, nargs="+", default=None, metavar="N",
                         help="stop serving these versions (their files stay)")
    release.add_argument("--unretire", type=positive_int, nargs="+", default=None, metavar="N",
                         help="serve these retired versions again")
    release.add_argument("--artifacts", type=Path, default=None, help="dir with manifest.json (default: --out)")
    release.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rosetta.core import manifest

    out = args.artifacts or args.out
    if args.stable is None and args.canary is None and not args.retire and not args.unretire:
        raise UsageError("nothing to do: give --stable N, --canary N|none, --retire N ... or --unretire N ...")
    try:
        rec = manifest.release(out, args.model, stable=args.stable, canary=args.canary, retire=args.retire or (),
                               unretire=args.unretire or ())
    except manifest.ReleaseError as exc:
        raise UsageError(str(exc)) from None
    labels = ", ".join(f"{k} -> {v}" for k, v in rec.labels.items())
    retired = ", ".join(map(str, rec.retired)) or "none"
    console.print(f"{args.model}: {labels}; retired: {retired}  ({manifest.path_of(out)})", highlight=False)
    return 0
