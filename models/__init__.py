"""The three framework lanes, each able to build and train every built-in architecture (models.architectures).
Each module has the same shape: build(model, seed) / train / predict / save / load / get_weights / set_weights /
export_source, plus CHECKPOINT and DISTRIBUTIONS."""
from __future__ import annotations

import importlib
from types import ModuleType

from rosetta.contract import LANES

_MODULES = {"keras": "models.keras_lane", "torch": "models.torch_lane", "jax": "models.jax_lane"}
assert tuple(_MODULES) == LANES


def lane(name: str) -> ModuleType:
    """Import a lane on demand: each framework costs seconds to import, and a run may need only one."""
    if name not in _MODULES:
        raise ValueError(f"unknown lane {name!r}; valid lanes: {', '.join(LANES)}")
    return importlib.import_module(_MODULES[name])
