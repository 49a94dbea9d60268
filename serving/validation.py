"""Input checks shared by every protocol: client mistakes become InvalidInput (HTTP 400 / INVALID_ARGUMENT)."""
from __future__ import annotations

from typing import Any

import numpy as np
from kserve.errors import InvalidInput

from serving.manifest import TensorSpec


def _fmt(shape: tuple[int | None, ...] | list[int]) -> str:
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


def numeric_array(value: Any, what: str) -> np.ndarray:
    """Nested JSON lists of numbers -> float32, refusing ragged lists, strings, booleans and nulls."""
    try:
        arr = np.asarray(value)
    except ValueError:  # numpy 2 raises on ragged nesting
        raise InvalidInput(f"{what} is not a rectangular array: its nested lists differ in length") from None
    if arr.dtype.kind not in "fiu":
        raise InvalidInput(f"{what} must hold only numbers, found {arr.dtype.kind!r}-kind values "
                           f"(e.g. strings, booleans, null or objects)")
    with np.errstate(over="ignore"):  # float64 beyond float32 range becomes inf, refused below
        return arr.astype(np.float32, copy=False)


def check_batch(x: np.ndarray, spec: TensorSpec, max_rows: int) -> np.ndarray:
    """Shape [-1, 28, 28], 1..max_rows rows, float32, every value finite."""
    expected = spec.shape
    if x.ndim != len(expected) or any(d is not None and d != s for d, s in zip(expected, x.shape, strict=True)):
        raise InvalidInput(f"input '{spec.name}' must have shape {_fmt(expected)}, got {_fmt(list(x.shape))}")
    rows = x.shape[0]
    if rows == 0:
        raise InvalidInput(f"empty batch: input '{spec.name}' has 0 rows, send at least one")
    if rows > max_rows:
        raise InvalidInput(f"batch of {rows} rows exceeds the limit of {max_rows} per request; split it")
    if x.dtype != np.float32:
        raise InvalidInput(f"input '{spec.name}' must be float32, got {x.dtype}")
    if not np.isfinite(x).all():
        raise InvalidInput(f"input '{spec.name}' contains NaN or infinite values; every value must be finite")
    return x
