"""A zoo model through the same source loading and running as `rosetta export` (rosetta.sources)."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rosetta.sources import Source, load_source
from rosetta.zoo.catalog import ZooModel


def build(model: ZooModel) -> Source:
    """The model from its SOURCE string, its framework detected as `rosetta export` detects it."""
    source = load_source(model.source)
    if source.lane != model.lane:
        raise ValueError(f"{model.name}: the catalog says {model.lane}, {model.source} returns a {source.lane} model")
    return source


def run_source(model: ZooModel, source: Source, named: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The source model's outputs, in output order, as float32 numpy (inputs in the model's own order)."""
    own = [n for n in source.input_names() or () if n in named]  # forward() may take optional flags too
    out = source.call(*(named[n] for n in (own if len(own) == len(named) else named)))
    if isinstance(out, Mapping):
        out = [out[k] for k in source.model.output_names]
    return [np.asarray(o, dtype=np.float32) for o in (out if isinstance(out, list) else [out])]
