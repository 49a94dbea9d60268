"""`rosetta` command line: train the lanes, export and validate every artifact, release, serve, build the site.
One module per command (its parser and its run); the work is done by rosetta.api and the packages below it."""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rosetta.cli import export, prune, release, serve, setup_js, site, train
from rosetta.cli.common import ARTIFACTS_DIR, TrainingError, UsageError, console
from rosetta.core.manifest import ManifestError
from rosetta.core.package_data import JsRuntimeMissing
from rosetta.core.spec import SpecError
from rosetta.core.version_dirs import VersionError
from rosetta.mnist import DEFAULT_DATA_DIR, DataError
from rosetta.sources import SourceError

COMMANDS = (train, export, release, prune, serve, site, setup_js)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rosetta", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="directory with the MNIST IDX .gz files and SHA256SUMS.raw")
    parser.add_argument("--out", type=Path, default=ARTIFACTS_DIR, help="artifacts directory")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        code = args.func(args)
    except DataError as exc:
        print(f"rosetta: data error: {exc}", file=sys.stderr)  # plain: no wrapping inside the path
        return 2
    except (UsageError, FileNotFoundError, SpecError, SourceError, VersionError, ManifestError,
            JsRuntimeMissing) as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 2
    except TrainingError as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 1
    console.print(f"done in {time.perf_counter() - start:.1f}s")
    return code
