"""`rosetta serve`: the ONNX Runtime server over the manifest's onnx artifacts."""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from rosetta.serving.server.config import add_serve_arguments  # argparse only: no server imports until it runs

    serve = sub.add_parser("serve", help="serve the ONNX artifacts: KServe v2 REST + gRPC, TF Serving REST")
    add_serve_arguments(serve)
    serve.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rosetta.serving.server.app import serve
    from rosetta.serving.server.config import config_from_args

    return serve(config_from_args(args))
