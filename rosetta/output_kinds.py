"""What each output of a user's model means (its spec `kind`): read off its values, or named by the user.

The kind only chooses how a quantized artifact is judged (rosetta.exporters.gates); float artifacts are held to
max |diff| whatever it is. Inference looks at the source's outputs on the first example rows:
rows in [0, 1] summing to 1 -> "probabilities"; values all in [0, 1] otherwise -> "multilabel" (independent
sigmoids); other rank-2 float outputs with 2+ columns -> "logits"; anything else -> "regression". An embedding
cannot be told from logits by its values: name it (`--output-kind OUT=embedding`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np

from rosetta.core.spec import KINDS, ModelSpec, SpecError

ROWS = 32  # example rows the source is run on to infer kinds


def infer_kind(value: np.ndarray) -> str:
    value = np.asarray(value)
    if value.dtype.kind != "f" or value.ndim < 2 or value.size == 0:
        return "regression"
    in_unit = bool(((value >= 0) & (value <= 1)).all())
    if value.ndim == 2 and value.shape[1] >= 2 and in_unit and np.allclose(value.sum(1), 1.0, atol=1e-3):
        return "probabilities"
    if in_unit and value.ndim == 2 and not ((value == 0) | (value == 1)).all():
        return "multilabel"
    if value.ndim == 2 and value.shape[1] >= 2:
        return "logits"
    return "regression"


def parse_overrides(items: Iterable[str] | Mapping[str, str] | None) -> dict[str, str]:
    """`OUTPUT=KIND` strings (or a mapping) -> {output: kind}; a malformed item or unknown kind is a SpecError."""
    if items is None:
        return {}
    pairs = list(items.items()) if isinstance(items, Mapping) else [_split(item) for item in items]
    for name, kind in pairs:
        if kind not in KINDS:
            raise SpecError(f"--output-kind {name}={kind}: unknown kind; valid: {', '.join(KINDS)}")
    return dict(pairs)


def _split(item: str) -> tuple[str, str]:
    name, sep, kind = item.partition("=")
    if not sep or not name or not kind:
        raise SpecError(f"--output-kind {item!r}: expected OUTPUT=KIND")
    return name, kind


def apply_overrides(spec: ModelSpec, kinds: Mapping[str, str]) -> ModelSpec:
    """The spec with the named outputs' kinds replaced; an output the model does not have is a SpecError."""
    unknown = [k for k in kinds if k not in spec.output_names]
    if unknown:
        raise SpecError(f"--output-kind: {spec.name} has no output {', '.join(unknown)}; "
                        f"outputs: {', '.join(spec.output_names)}")
    return replace(spec, outputs=tuple(replace(t, kind=kinds.get(t.name, t.kind)) for t in spec.outputs))
