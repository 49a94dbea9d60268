"""`python -m rosetta.serving`: the ORT model server (the container's entry point; same flags as `rosetta serve`)."""
from __future__ import annotations

import argparse
import sys

from rosetta.serving.server.app import serve
from rosetta.serving.server.config import add_serve_arguments, config_from_args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rosetta.serving", description=__doc__)
    add_serve_arguments(parser)
    return serve(config_from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
