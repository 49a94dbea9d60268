"""`python -m serving`: the ORT model server (the container's entry point; same flags as `rosetta serve`)."""
from __future__ import annotations

import argparse
import sys

from serving.server.config import add_serve_arguments, config_from_args
from serving.server.app import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    add_serve_arguments(parser)
    return serve(config_from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
