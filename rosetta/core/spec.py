"""A model's contract as data: named input and output tensors, the one description that flows from the
exporter through the manifest to the servers and the download site.

The JSON form follows the Open Inference Protocol's model metadata (`name`, `datatype`, `shape` with -1
for a free dimension), which the ONNX Runtime server emits as is, with two Rosetta fields: an input's
`layout` (e.g. "NCHW": every artifact takes it as the source does, never silently transposed) and an
output's `kind` ("probabilities" or "logits" mark a classifier output, gated on argmax agreement; "multilabel",
"embedding" and "regression" choose the other quantized gates).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

# Open Inference Protocol datatypes <-> numpy dtype names.
DATATYPES = {"BOOL": "bool", "UINT8": "uint8", "INT8": "int8", "INT16": "int16", "INT32": "int32",
             "INT64": "int64", "FP16": "float16", "FP32": "float32", "FP64": "float64"}
NUMPY_TO_DATATYPE = {v: k for k, v in DATATYPES.items()}
CLASSIFIER_KINDS = ("probabilities", "logits")
# What an output means, which decides how a quantized artifact is judged on it (rosetta.exporters.gates):
# a classifier's scores, independent sigmoid labels, a vector compared by angle, or plain numbers.
KINDS = (*CLASSIFIER_KINDS, "multilabel", "embedding", "regression")
BATCH = -1  # dimension 0 of every tensor: any batch size


class SpecError(ValueError):
    """A spec, or arrays checked against it, is malformed: the message says which tensor and why."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str  # OIP datatype, e.g. "FP32"
    shape: tuple[int, ...]  # -1: any size; dimension 0 is the batch
    layout: str | None = None  # inputs: axis letters, e.g. "NCHW", "NHWC", "NHW"; None when not meaningful
    kind: str | None = None  # outputs: one of KINDS ("probabilities" | "logits": a classifier) | None
    # Per axis, the sizes a free (-1) dimension may take, as the source declared them (a torch.export Dim's
    # min/max): (min, max), max None for unbounded; None on a fixed axis or where nothing was declared.
    ranges: tuple[tuple[int, int | None] | None, ...] | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise SpecError(f"tensor name must be a non-empty string, got {self.name!r}")
        if self.datatype not in DATATYPES:
            raise SpecError(f"{self.name}: unknown datatype {self.datatype!r}; valid: {', '.join(DATATYPES)}")
        shape = tuple(int(d) for d in self.shape)
        if not shape or shape[0] != BATCH or any(d < 1 and d != BATCH for d in shape):
            raise SpecError(f"{self.name}: shape {list(self.shape)} must start with the batch dimension -1 "
                            "and have positive sizes or -1 elsewhere")
        object.__setattr__(self, "shape", shape)
        if self.layout is not None and len(self.layout) != len(shape):
            raise SpecError(f"{self.name}: layout {self.layout!r} does not match rank {len(shape)}")
        if self.kind is not None and self.kind not in KINDS:
            raise SpecError(f"{self.name}: unknown kind {self.kind!r}; valid: {', '.join(KINDS)}")
        object.__setattr__(self, "ranges", _check_ranges(self.name, shape, self.ranges))

    @property
    def free_axes(self) -> tuple[int, ...]:
        """Non-batch axes of any size (sequence length, image height/width)."""
        return tuple(i for i, d in enumerate(self.shape) if i > 0 and d == BATCH)

    def range(self, axis: int) -> tuple[int, int | None]:
        """The sizes a free axis may take: the declared range, else (1, None) (the batch: any size >= 1)."""
        declared = self.ranges[axis] if self.ranges else None
        return declared if declared is not None else (1, None)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(DATATYPES[self.datatype])

    @property
    def is_classifier(self) -> bool:
        return self.kind in CLASSIFIER_KINDS

    @property
    def static_shape(self) -> tuple[int | None, ...]:
        """The shape with None for free dimensions (TF, Keras and numpy-style consumers)."""
        return tuple(None if d == BATCH else d for d in self.shape)

    def example_shape(self, batch: int) -> tuple[int, ...]:
        """A concrete shape with `batch` rows; free non-batch dimensions must be fixed by the caller."""
        if BATCH in self.shape[1:]:
            raise SpecError(f"{self.name}: shape {list(self.shape)} has a free non-batch dimension")
        return (batch, *self.shape[1:])

    def check(self, array: np.ndarray) -> None:
        """Raise SpecError unless `array` has this tensor's dtype and shape (any batch size)."""
        if array.dtype != self.dtype:
            raise SpecError(f"{self.name}: dtype {array.dtype}, expected {self.dtype} ({self.datatype})")
        if array.ndim != len(self.shape) or any(d != BATCH and d != a for d, a in zip(self.shape, array.shape)):
            raise SpecError(f"{self.name}: shape {list(array.shape)}, expected {list(self.shape)}")
        self.check_sizes(array.shape)

    def check_sizes(self, shape: tuple[int, ...]) -> None:
        """Raise SpecError when a free dimension's size is outside the range the source declared."""
        for axis, size in enumerate(shape):
            low, high = self.range(axis) if self.shape[axis] == BATCH else (size, size)
            if size < low or (high is not None and size > high):
                what = "batch" if axis == 0 else f"dimension {axis}"
                raise SpecError(f"{self.name}: {what} is {size}; the model takes {low}..{high or 'any'}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}
        if self.layout:
            out["layout"] = self.layout
        if self.kind:
            out["kind"] = self.kind
        if self.ranges:
            out["ranges"] = [list(r) if r else None for r in self.ranges]
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TensorSpec:
        try:
            ranges = raw.get("ranges")
            return cls(raw["name"], raw["datatype"], tuple(raw["shape"]), raw.get("layout"), raw.get("kind"),
                       tuple(tuple(r) if r else None for r in ranges) if ranges else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise SpecError(f"tensor {dict(raw)!r}: needs name, datatype and shape ({exc!r})") from None

    @classmethod
    def like(cls, name: str, array: np.ndarray, layout: str | None = None, kind: str | None = None) -> TensorSpec:
        """The spec of a batch of examples: its dtype, its shape with a free batch dimension."""
        datatype = NUMPY_TO_DATATYPE.get(np.dtype(array.dtype).name)
        if datatype is None:
            raise SpecError(f"{name}: unsupported dtype {array.dtype}")
        if array.ndim < 1:
            raise SpecError(f"{name}: a scalar has no batch dimension")
        return cls(name, datatype, (BATCH, *array.shape[1:]), layout, kind)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        check_model_name(self.name)
        if not self.inputs or not self.outputs:
            raise SpecError(f"{self.name}: a model needs at least one input and one output")
        names = [t.name for t in (*self.inputs, *self.outputs)]
        if len(set(names)) != len(names):
            raise SpecError(f"{self.name}: tensor names must be unique, got {names}")

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]

    def input(self, name: str) -> TensorSpec:
        return _by_name(self.inputs, name, self.name, "input")

    def output(self, name: str) -> TensorSpec:
        return _by_name(self.outputs, name, self.name, "output")

    @property
    def classifier_output(self) -> TensorSpec | None:
        """The first classifier output: the one accuracy is measured on when labels are given."""
        return next((t for t in self.outputs if t.is_classifier), None)

    def renamed(self, name: str) -> ModelSpec:
        return replace(self, name=name)

    def check_inputs(self, arrays: Mapping[str, np.ndarray]) -> int:
        """Check a batch of named inputs against the spec; returns the batch size."""
        missing, extra = set(self.input_names) - set(arrays), set(arrays) - set(self.input_names)
        if missing or extra:
            raise SpecError(f"{self.name}: inputs {sorted(arrays)}, expected {self.input_names}")
        for t in self.inputs:
            t.check(arrays[t.name])
        sizes = {len(arrays[t.name]) for t in self.inputs}
        if len(sizes) != 1:
            raise SpecError(f"{self.name}: inputs disagree on the batch size: {sorted(sizes)}")
        return sizes.pop()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "inputs": [t.to_json() for t in self.inputs],
                               "outputs": [t.to_json() for t in self.outputs]}
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ModelSpec:
        try:
            return cls(raw["name"], tuple(TensorSpec.from_json(t) for t in raw["inputs"]),
                       tuple(TensorSpec.from_json(t) for t in raw["outputs"]), raw.get("description", ""))
        except (KeyError, TypeError) as exc:
            raise SpecError(f"model spec: needs name, inputs and outputs ({exc!r})") from None


def _check_ranges(name: str, shape: tuple[int, ...], ranges) -> tuple[tuple[int, int | None] | None, ...] | None:
    """Ranges aligned with the shape, only on free axes, 1 <= min <= max; all-None collapses to None."""
    if ranges is None:
        return None
    ranges = tuple(None if r is None else (int(r[0]), None if r[1] is None else int(r[1])) for r in ranges)
    if len(ranges) != len(shape):
        raise SpecError(f"{name}: ranges {list(ranges)} do not match rank {len(shape)}")
    for axis, r in enumerate(ranges):
        if r is None:
            continue
        if shape[axis] != BATCH:
            raise SpecError(f"{name}: axis {axis} has fixed size {shape[axis]}; only a free (-1) axis has a range")
        if r[0] < 1 or (r[1] is not None and r[1] < r[0]):
            raise SpecError(f"{name}: axis {axis} range {list(r)} must have 1 <= min <= max")
    return ranges if any(r is not None for r in ranges) else None


def batch_chunks(spec: ModelSpec, rows: int, preferred: int) -> list[tuple[int, int]]:
    """[start, stop) row ranges of at most `preferred` rows that respect every input's batch range (a chunk of 1
    for a model exported with batch >= 2 would fail): the last chunk is merged or rebalanced when too small."""
    low, high = 1, preferred
    for t in spec.inputs:
        lo, hi = t.range(0)
        low, high = max(low, lo), min(high, hi) if hi is not None else high
    high = max(high, low)
    bounds = [(i, min(i + high, rows)) for i in range(0, rows, high)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < low:
        start = bounds[-2][0]
        middle = (start + rows) // 2
        bounds[-2:] = [(start, middle), (middle, rows)]
    return bounds


def check_model_name(name: str) -> str:
    """Model names become directory names and URL path segments: keep them to a safe alphabet."""
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_." for c in name) \
            or name[0] in "-." or len(name) > 100:
        raise SpecError(f"model name {name!r}: use 1-100 letters, digits, '-', '_' or '.', not starting "
                        "with '-' or '.'")
    return name


def _by_name(tensors: tuple[TensorSpec, ...], name: str, model: str, what: str) -> TensorSpec:
    for t in tensors:
        if t.name == name:
            return t
    raise SpecError(f"{model}: no {what} named {name!r}; {what}s: {[t.name for t in tensors]}")


def slice_batch(arrays: Mapping[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    """Rows [start, stop) of every named array (inputs share their batch dimension)."""
    return {k: np.ascontiguousarray(v[start:stop]) for k, v in arrays.items()}


def batch_size(arrays: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(arrays.values())))
