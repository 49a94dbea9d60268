"""Free dimensions beyond the batch (sequence length, image height/width): each artifact is validated at a second
size of every such axis, or records the static shape its format gave it.

The second size is a crop of the validation rows along each free axis (to 3/4, within the declared range), or,
where the range allows no smaller size, the rows wrapped around to a larger one: real values either way. An axis
an artifact's signature reports as fixed is recorded as static in the manifest entry (the cell is still graded at
the size it was exported at); an artifact whose signature keeps the axis free must match its source at both sizes.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rosetta.core.spec import ModelSpec, TensorSpec, slice_batch

ROWS = 16  # rows validated at the second size


@dataclass(frozen=True)
class SecondSize:
    inputs: dict[str, np.ndarray]
    reference: dict[str, np.ndarray] | None  # the source's outputs; None when the source failed there
    error: str = ""


def has_free_axes(spec: ModelSpec) -> bool:
    return any(t.free_axes for t in spec.inputs)


def second_length(t: TensorSpec, axis: int, size: int) -> int:
    low, high = t.range(axis)
    smaller = max(low, (size * 3) // 4)
    if smaller < size:
        return smaller
    larger = size + max(1, size // 4)
    return min(larger, high) if high is not None else larger


def resize_axes(t: TensorSpec, array: np.ndarray) -> np.ndarray:
    for axis in t.free_axes:
        length = second_length(t, axis, array.shape[axis])
        array = np.take(array, np.arange(length) % array.shape[axis], axis=axis)
    return np.ascontiguousarray(array)


def second_size(spec: ModelSpec, validation: Mapping[str, np.ndarray], predict) -> SecondSize | None:
    """The validation rows at a second size of every free axis, and the source's outputs on them."""
    if not has_free_axes(spec):
        return None
    rows = slice_batch(validation, 0, ROWS)
    inputs = {t.name: resize_axes(t, rows[t.name]) for t in spec.inputs}
    try:
        return SecondSize(inputs, predict(spec, inputs))
    except Exception as exc:  # noqa: BLE001 - the source itself does not run there: say so on every cell
        return SecondSize(inputs, None, f"{type(exc).__name__}: {str(exc)[:300]}")


def static_axes(spec: ModelSpec, signature: dict[str, Any] | None) -> dict[str, list[int | None]]:
    """Inputs whose artifact fixed a free non-batch axis: {input: the shape the artifact takes}."""
    seen = {t["name"]: t["shape"] for t in (signature or {}).get("inputs", [])}
    out = {}
    for t in spec.inputs:
        shape = seen.get(t.name)
        if shape is not None and len(shape) == len(t.shape) and any(shape[a] is not None for a in t.free_axes):
            out[t.name] = shape
    return out


def shapes_record(spec: ModelSpec, validation: Mapping[str, np.ndarray], second: SecondSize | None,
                  signature: dict[str, Any] | None) -> dict[str, Any]:
    """What the manifest says about the free axes: validated shapes, or the static shape the artifact got."""
    static = static_axes(spec, signature)
    record: dict[str, Any] = {"free_axes": {t.name: list(t.free_axes) for t in spec.inputs if t.free_axes}}
    if static:
        record["static"] = static
    validated = {t.name: [list(validation[t.name].shape[1:]), list(second.inputs[t.name].shape[1:])]
                 for t in spec.inputs if t.free_axes and t.name not in static} if second is not None else {}
    if validated:
        record["validated"] = validated
    if second is not None and second.error:
        record["source_error"] = second.error
    return record
