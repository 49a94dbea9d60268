"""The framework lanes, each able to build and train every built-in architecture (rosetta.models.architectures).
Each module implements rosetta.models.base.Lane: build / train / predict / save / load / get_weights /
set_weights / export_source, plus CHECKPOINT and DISTRIBUTIONS.

`keras`, `keras-jax` and `keras-torch` are one module (models.keras_lane) on three Keras backends. Keras fixes
its backend at its first import, for the life of the process: a process runs the Keras lanes of one backend
(`lane` refuses the others; callers start a child process for them, see `needs_own_process`).
"""
from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, cast

from rosetta import keras_backends
from rosetta.contract import LANES

if TYPE_CHECKING:
    from rosetta.models.base import Lane

_MODULES = {"keras": "rosetta.models.keras_lane", "torch": "rosetta.models.torch_lane", "jax": "rosetta.models.jax_lane",
            "keras-jax": "rosetta.models.keras_lane", "keras-torch": "rosetta.models.keras_lane"}
assert tuple(_MODULES) == LANES


class BackendMismatch(RuntimeError):
    """A Keras lane asked for in a process whose Keras already runs another backend."""


def keras_backend(name: str) -> str | None:
    """The Keras backend lane `name` runs on (None: not a Keras lane)."""
    return keras_backends.BACKENDS.get(name)


def needs_own_process(name: str) -> bool:
    """Whether lane `name` cannot run in this process: Keras is imported here on another backend."""
    backend, fixed = keras_backend(name), keras_backends.fixed()
    return backend is not None and fixed is not None and fixed != backend


def lane(name: str) -> Lane:
    """Import a lane on demand: each framework costs seconds to import, and a run may need only one. A Keras lane
    sets KERAS_BACKEND before Keras is imported, and is refused once Keras runs another backend here."""
    if name not in _MODULES:
        raise ValueError(f"unknown lane {name!r}; valid lanes: {', '.join(LANES)}")
    backend = keras_backend(name)
    if backend is not None:
        if needs_own_process(name):
            raise BackendMismatch(f"lane {name!r} needs Keras on the {backend} backend, and this process's Keras "
                                  f"runs {keras_backends.fixed()} (Keras reads KERAS_BACKEND once, at import): run "
                                  f"it in its own process with KERAS_BACKEND={backend}")
        os.environ["KERAS_BACKEND"] = backend
    return cast("Lane", importlib.import_module(_MODULES[name]))
