"""Keras 3 reads KERAS_BACKEND once, at its first import, and keeps that backend for the life of the process.

Which backend this process's Keras runs, the source lane of a Keras model on each backend, and the environment of
a child process that must run another backend.
"""
from __future__ import annotations

import os
import sys

# backend -> the lane (export-graph source node) of a Keras model running on it
LANES = {"tensorflow": "keras", "jax": "keras-jax", "torch": "keras-torch"}
BACKENDS = {lane: backend for backend, lane in LANES.items()}


def current() -> str | None:
    """The backend this process's Keras runs (once imported) or will run (KERAS_BACKEND); None: not chosen yet."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ.get("KERAS_BACKEND")


def fixed() -> str | None:
    """The backend, if Keras is already imported here (then no other backend can run in this process)."""
    return sys.modules["keras"].backend.backend() if "keras" in sys.modules else None


def child_env(backend: str) -> dict[str, str]:
    """This process's environment for a child whose Keras runs `backend`."""
    if backend not in LANES:
        raise ValueError(f"unknown Keras backend {backend!r}; valid: {', '.join(LANES)}")
    return {**os.environ, "KERAS_BACKEND": backend}
