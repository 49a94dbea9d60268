"""Pin a set of distributions and their whole dependency closure to the versions installed here.

Regenerates the container requirement files from the tested venv (tests/serving/test_containers.py checks
they still match it):
  python -m serving.tools.lockfile onnx > serving/onnx/requirements.txt
  python -m serving.tools.lockfile parity > serving/parity/requirements.txt
"""
from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# What each image needs directly; everything they pull in is pinned too.
ROOTS = {
    "onnx": ["kserve", "onnxruntime", "numpy", "orjson", "pyyaml", "prometheus-client", "uvloop"],
    "parity": ["kserve", "onnxruntime", "numpy", "orjson", "pyyaml", "prometheus-client", "uvloop", "httpx",
               "aiohttp", "tensorflow-serving-api", "pytest", "pytest-timeout"],
}
HEADERS = {
    "onnx": "the ONNX Runtime server image (serving/onnx/Dockerfile)",
    "parity": "the one-shot parity check of serving/docker-compose.yml (pytest against both servers)",
}


def closure(roots: list[str]) -> dict[str, str]:
    """canonical name -> installed version, for the roots and everything they require (with extras)."""
    pins: dict[str, str] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    stack = [(root, frozenset[str]()) for root in roots]
    while stack:
        raw, extras = stack.pop()
        name = canonicalize_name(raw)
        if (name, extras) in done:
            continue
        done.add((name, extras))
        dist = metadata.distribution(name)
        pins[name] = dist.version
        environments = [{"extra": e} for e in (extras or {""})]
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate(env) for env in environments):
                stack.append((req.name, frozenset(req.extras)))
    return dict(sorted(pins.items()))


def render(image: str) -> str:
    lines = [f"# Pinned install set of {HEADERS[image]}: {', '.join(ROOTS[image])}",
             "# and their whole dependency closure, at the versions of the project's tested .venv.",
             f"# Regenerate: python -m serving.tools.lockfile {image} > <this file>"]
    return "\n".join(lines + [f"{name}=={version}" for name, version in closure(ROOTS[image]).items()]) + "\n"


def parse(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ROOTS:
        sys.exit(f"usage: python -m serving.tools.lockfile {{{'|'.join(ROOTS)}}}")
    sys.stdout.write(render(sys.argv[1]))
