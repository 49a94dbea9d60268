"""Build a zoo model from its SOURCE string and run it on named inputs in its own framework."""
from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from zoo.catalog import ZooModel


def build(model: ZooModel) -> Any:
    module_name, _, factory = model.source.partition(":")
    return getattr(importlib.import_module(module_name), factory)()


def run_source(model: ZooModel, built: Any, named: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The source model's outputs, in output order, as numpy."""
    if model.lane == "keras":
        out = built(named, training=False) if len(named) > 1 else built(next(iter(named.values())), training=False)
        outs = [out[k] for k in built.output_names] if isinstance(out, dict) else out
    elif model.lane == "torch":
        import torch

        with torch.inference_mode():
            outs = built(*(torch.from_numpy(v) for v in named.values()))
    elif model.lane == "jax":
        apply, variables = built
        outs = apply(variables, *named.values())
    else:
        raise ValueError(f"{model.name}: unknown lane {model.lane!r}")
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return [np.asarray(o, dtype=np.float32) for o in outs]
