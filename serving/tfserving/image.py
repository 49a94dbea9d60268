"""What the TF Serving image pins, read from its Dockerfile: the base tag, the TensorFlow release it is built on
and the server's flags. Compose, k8s and KServe must agree with these (tests/serving/test_tfserving_sync.py)."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "serving" / "tfserving" / "Dockerfile"
IMAGE = "tensorflow/serving"
SERVER = "/usr/bin/tensorflow_model_server"
# The XlaCallModule op (jax2tf's native serialization) runs in TF Serving only with this flag (main.cc: "With
# XLA:CPU JIT disabled, models utilizing this feature will return bad Status on first compilation request").
XLA_FLAG = "--xla_cpu_compilation_enabled=true"


def base_tag(dockerfile: Path = DOCKERFILE) -> str:
    """The `tensorflow/serving` release tag of the FROM line, e.g. "2.20.0"."""
    found = re.findall(rf"^FROM {re.escape(IMAGE)}:(\d+\.\d+\.\d+)\s*$", dockerfile.read_text(), re.M)
    if len(found) != 1:
        raise ValueError(f"{dockerfile}: expected one `FROM {IMAGE}:X.Y.Z` line, found {found}")
    return found[0]


def tensorflow_version(dockerfile: Path = DOCKERFILE) -> str:
    """TF Serving X.Y.Z is built from TensorFlow X.Y.Z (each release pins its TF in WORKSPACE), so the
    tensorflow-cpu wheel of the same version runs the same kernels and op versions."""
    return base_tag(dockerfile)


def side_venv(dockerfile: Path = DOCKERFILE) -> Path:
    """The virtualenv `make tfserving-venv` builds with that tensorflow-cpu (tfserving.mk derives the same)."""
    return ROOT / f".venv-tfserving-{tensorflow_version(dockerfile)}"


def entrypoint(dockerfile: Path = DOCKERFILE) -> list[str]:
    """The exec-form ENTRYPOINT: the server binary and its flags."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    found = re.findall(r"^ENTRYPOINT\s+(\[.*\])\s*$", text, re.M)
    if len(found) != 1:
        raise ValueError(f"{dockerfile}: expected one exec-form ENTRYPOINT, found {len(found)}")
    return json.loads(found[0])


def server_flags(dockerfile: Path = DOCKERFILE) -> list[str]:
    command = entrypoint(dockerfile)
    if command[0] != SERVER:
        raise ValueError(f"{dockerfile}: ENTRYPOINT runs {command[0]}, not {SERVER}")
    return command[1:]
