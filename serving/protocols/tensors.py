"""Request values -> arrays of the spec's datatype, and the checks every protocol shares. Client mistakes become
InvalidInput (HTTP 400 / gRPC INVALID_ARGUMENT) with a message naming the tensor."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from kserve.errors import InvalidInput

from rosetta.core.spec import SpecError, TensorSpec


def fmt_shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def json_array(value: Any, t: TensorSpec, what: str) -> np.ndarray:
    """Nested JSON lists -> an array of t's dtype, refusing ragged lists, strings, nulls, objects, booleans for
    numbers (and numbers for BOOL), fractions for integer types and integers outside the type's range."""
    try:
        arr = np.asarray(value)
    except ValueError:  # numpy 2 raises on ragged nesting
        raise InvalidInput(f"{what} is not a rectangular array: its nested lists differ in length") from None
    target = t.dtype
    if arr.size == 0:
        return arr.astype(target)  # the shape checks say what is wrong with an empty tensor
    kind = arr.dtype.kind
    if target.kind == "b":
        if kind != "b":
            raise InvalidInput(f"{what} ({t.datatype}) must hold only true/false, found {arr.dtype.kind!r}-kind values")
        return arr
    if kind not in "iu" and not (kind == "f" and target.kind == "f"):
        wanted = "integers" if target.kind in "iu" else "numbers"
        raise InvalidInput(f"{what} ({t.datatype}) must hold only {wanted}, found {arr.dtype.kind!r}-kind values "
                           f"(e.g. strings, booleans, null, objects{', fractions' if wanted == 'integers' else ''})")
    if target.kind in "iu":
        info = np.iinfo(target)
        low, high = arr.min(), arr.max()
        if low < info.min or high > info.max:
            raise InvalidInput(f"{what} ({t.datatype}) holds {low if low < info.min else high}, outside "
                               f"[{info.min}, {info.max}]")
    with np.errstate(over="ignore"):  # floats beyond the target's range become inf, refused by check_input
        return arr.astype(target, copy=False)


def raw_array(raw: bytes, t: TensorSpec, shape: list[int], what: str) -> np.ndarray:
    """Little-endian tensor bytes (gRPC raw contents) in `shape`."""
    count = math.prod(shape)  # Python ints: no overflow on absurd shapes
    itemsize = t.dtype.itemsize
    if len(raw) != count * itemsize:
        raise InvalidInput(f"{what}: shape {fmt_shape(shape)} of {t.datatype} needs {count * itemsize} bytes of raw "
                           f"contents, got {len(raw)}")
    return np.frombuffer(raw, dtype=t.dtype.newbyteorder("<")).reshape(shape)


def check_input(x: np.ndarray, t: TensorSpec, max_rows: int) -> None:
    """The spec's shape (-1: any size), 1..max_rows rows, the spec's dtype, finite floats."""
    expected = t.shape
    if x.ndim != len(expected) or any(d != -1 and d != s for d, s in zip(expected, x.shape, strict=True)):
        raise InvalidInput(f"input '{t.name}' must have shape {fmt_shape(expected)}, got {fmt_shape(x.shape)}")
    rows = x.shape[0]
    if rows == 0:
        raise InvalidInput(f"empty batch: input '{t.name}' has 0 rows, send at least one")
    if rows > max_rows:
        raise InvalidInput(f"batch of {rows} rows in input '{t.name}' exceeds the limit of {max_rows} per request; "
                           "split it")
    try:
        t.check_sizes(x.shape)  # a free dimension within the range the model was exported for
    except SpecError as exc:
        raise InvalidInput(f"input {exc}") from None
    if x.dtype != t.dtype:
        raise InvalidInput(f"input '{t.name}' must be {t.datatype} ({t.dtype.name}), got {x.dtype.name}")
    if t.dtype.kind == "f" and not np.isfinite(x).all():
        raise InvalidInput(f"input '{t.name}' contains NaN or infinite values; every value must be finite")


def check_inputs(arrays: dict[str, np.ndarray], inputs: Sequence[TensorSpec], max_rows: int) -> int:
    """Every input checked; they must agree on the batch size, which is returned."""
    for t in inputs:
        check_input(arrays[t.name], t, max_rows)
    rows = {t.name: len(arrays[t.name]) for t in inputs}
    if len(set(rows.values())) > 1:
        raise InvalidInput(f"inputs disagree on the batch size (dimension 0): {rows}")
    return next(iter(rows.values()))


def input_names_message(model: str, expected: Sequence[str], got: Sequence[str]) -> str:
    """Which inputs are missing, unknown or repeated, for a request that does not name exactly the model's."""
    missing = [n for n in expected if n not in got]
    unknown = [n for n in got if n not in expected]
    repeated = sorted({n for n in got if list(got).count(n) > 1})
    problems = [f"{label} {names}" for label, names in
                (("missing", missing), ("unknown", unknown), ("repeated", repeated)) if names]
    return f"model {model} takes inputs {list(expected)}, got {list(got)}: {'; '.join(problems)}"
