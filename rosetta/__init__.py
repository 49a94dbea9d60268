"""Rosetta: a model from Keras 3, PyTorch or JAX to every deployment target, each artifact proven equal to it."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rosetta.core.manifest import Entry

# Before anything imports TensorFlow: oneDNN's graph rewrites fuse ops into kernels only TF has (_FusedMatMul with
# tanh, _MklLayerNorm), which the TF.js and TFLite converters then cannot map; without them every float artifact
# also stays closer to its source (MobileNetV3 savedmodel 1.8e-5 -> 9.0e-6, measured).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def export(*args: Any, **kwargs: Any) -> list[Entry]:
    """See rosetta.api.export (imported on use: frameworks cost seconds to import)."""
    from rosetta.api import export as _export

    return _export(*args, **kwargs)
