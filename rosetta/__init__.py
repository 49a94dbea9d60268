"""Rosetta: a model from Keras 3, PyTorch or JAX to every deployment target, each artifact proven equal to it."""
from __future__ import annotations

from typing import Any


def export(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """See rosetta.api.export (imported on use: frameworks cost seconds to import)."""
    from rosetta.api import export as _export

    return _export(*args, **kwargs)
