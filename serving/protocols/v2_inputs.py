"""KServe v2 (REST and gRPC) request -> the model's named input arrays and the outputs to return, with a clear
message for each mistake. The checks work on plain values (name, datatype, shape, data or raw bytes), so the
kserve-decoded path and the direct decoders (v2_rest, v2_grpc) share them and give the same errors."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

from rosetta.core.spec import ModelSpec, TensorSpec
from rosetta.serving.protocols.tensors import fmt_shape, input_names_message, json_array, raw_array


def tensor_array(datatype: str, shape: Sequence[Any], data: Any, raw: bytes | None, t: TensorSpec) -> np.ndarray:
    """One tensor as t's dtype in its declared shape (not yet checked against the spec's shape)."""
    what = f"input '{t.name}'"
    if datatype != t.datatype:
        raise InvalidInput(f"{what} must have datatype {t.datatype}, got {datatype}")
    shape = list(shape)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidInput(f"{what} shape must be non-negative integers, got {shape}")
    if raw is not None:  # gRPC raw_input_contents
        return raw_array(raw, t, shape, what)
    flat = json_array(data if data is not None else [], t, f"{what} data")
    count = int(np.prod(shape, dtype=object))  # Python ints: no overflow on absurd shapes
    if flat.size != count:
        raise InvalidInput(f"{what}: shape {fmt_shape(shape)} needs {count} values, got {flat.size}")
    return flat.reshape(shape)


def check_input_names(names: Sequence[str], spec: ModelSpec) -> None:
    """Exactly the model's inputs, each once, in any order."""
    if len(names) != len(spec.inputs) or set(names) != set(spec.input_names):
        raise InvalidInput(input_names_message(spec.name, spec.input_names, names))


def select_outputs(names: Sequence[str], spec: ModelSpec) -> list[TensorSpec]:
    """The outputs named (any subset, in the given order), or all of them when none is named."""
    if not names:
        return list(spec.outputs)
    unknown = [n for n in names if n not in spec.output_names]
    if unknown:
        raise InvalidInput(f"model {spec.name} has outputs {spec.output_names}; cannot return {unknown}")
    if len(set(names)) != len(names):
        raise InvalidInput(f"outputs {list(names)}: each output may be requested once")
    return [spec.output(n) for n in names]


def _array(tensor: InferInput, t: TensorSpec) -> np.ndarray:
    return tensor_array(tensor.datatype, tensor.shape, tensor.data, tensor._raw_data, t)


def inputs_from_request(request: InferRequest, spec: ModelSpec) -> dict[str, np.ndarray]:
    """Exactly the model's inputs, each by name, in any order."""
    check_input_names([i.name for i in request.inputs], spec)
    return {tensor.name: _array(tensor, spec.input(tensor.name)) for tensor in request.inputs}


def requested_outputs(request: InferRequest, spec: ModelSpec) -> list[TensorSpec]:
    """The outputs the request names (any subset, in its order), or all of them when it names none."""
    return select_outputs([o.name for o in request.request_outputs or []], spec)


def binary_flags(request: InferRequest) -> list[RequestedOutput] | None:
    """REST requested outputs with `binary_data` resolved: an output's own parameter, else the request's
    `binary_data_output` (kserve would otherwise send JSON for every output whose parameter is unset)."""
    if not request.request_outputs or request.from_grpc:
        return request.request_outputs
    default = bool(request.use_binary_outputs)
    return [RequestedOutput(o.name, {**(o.parameters or {}),
                                     "binary_data": default if o.binary_data is None else bool(o.binary_data)})
            for o in request.request_outputs]
