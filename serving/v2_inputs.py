"""KServe v2 (REST and gRPC) request -> the model's input batch, with a clear message for each mistake."""
from __future__ import annotations

import math

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest

from serving.manifest import ModelSpec
from serving.validation import numeric_array


def images_from_request(request: InferRequest, spec: ModelSpec) -> np.ndarray:
    """The one input tensor as float32 in its declared shape (not yet checked against the model)."""
    expected = spec.input
    names = [i.name for i in request.inputs]
    if names != [expected.name]:
        raise InvalidInput(f"model {spec.name} takes exactly one input named '{expected.name}', got {names}")
    tensor = request.inputs[0]
    if tensor.datatype != expected.v2_datatype:
        raise InvalidInput(f"input '{expected.name}' must have datatype {expected.v2_datatype}, "
                           f"got {tensor.datatype}")
    shape = list(tensor.shape)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidInput(f"input '{expected.name}' shape must be non-negative integers, got {shape}")
    count = math.prod(shape)  # Python ints: no overflow on absurd shapes
    if tensor._raw_data is not None:  # gRPC raw_input_contents: little-endian float32 bytes
        itemsize = np.dtype(expected.dtype).itemsize
        if len(tensor._raw_data) != count * itemsize:
            raise InvalidInput(f"input '{expected.name}': shape {shape} needs {count * itemsize} bytes of "
                               f"raw contents, got {len(tensor._raw_data)}")
        return np.frombuffer(tensor._raw_data, dtype=np.dtype(expected.dtype).newbyteorder("<")).reshape(shape)
    data = tensor.data
    flat = numeric_array(data if data is not None else [], f"input '{expected.name}' data")
    if flat.size != count:
        raise InvalidInput(f"input '{expected.name}': shape {shape} needs {count} values, got {flat.size}")
    return flat.reshape(shape)


def check_requested_outputs(request: InferRequest, spec: ModelSpec) -> None:
    for output in request.request_outputs or []:
        if output.name != spec.output.name:
            raise InvalidInput(f"model {spec.name} has one output, '{spec.output.name}'; "
                               f"cannot return '{output.name}'")
