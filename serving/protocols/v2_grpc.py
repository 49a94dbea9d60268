"""KServe v2 gRPC ModelInfer with raw tensor contents, served without kserve's InferRequest/InferResponse
objects: raw bytes -> numpy views -> ORT -> raw bytes.

Only the plain request takes this path: every input in raw_input_contents (one per input, no `contents`), no
parameters on the request, its inputs or its outputs. Anything else goes through kserve's servicer as before;
the checks of the values are the ones that path runs (v2_inputs), so the errors are the same.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from kserve.errors import ModelNotReady
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

from rosetta.serving.protocols.v2_inputs import check_input_names, select_outputs, tensor_array

OutputTensor = pb.ModelInferResponse.InferOutputTensor


def is_plain(request: pb.ModelInferRequest) -> bool:
    raw = request.raw_input_contents
    if not raw or len(raw) != len(request.inputs) or request.parameters:
        return False
    if any(t.parameters or t.HasField("contents") for t in request.inputs):
        return False
    return not any(o.parameters for o in request.outputs)


def _le_bytes(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, a.dtype.newbyteorder("<")).tobytes()


async def infer_plain(model: Any, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
    """`model` is the served model the request addresses (its spec, version, readiness and infer())."""
    if not model.ready:
        raise ModelNotReady(model.name)
    spec = model.spec
    selected = select_outputs([o.name for o in request.outputs], spec)
    check_input_names([t.name for t in request.inputs], spec)
    arrays = {t.name: tensor_array(t.datatype, t.shape, None, raw, spec.input(t.name))
              for t, raw in zip(request.inputs, request.raw_input_contents, strict=True)}
    results = await model.infer(arrays)
    arrays_out = [results[t.name] for t in selected]
    raw_out = [_le_bytes(a) for a in arrays_out]
    # Each output carries its byte count as kserve's servicer writes it.
    outputs = [OutputTensor(name=t.name, datatype=t.datatype, shape=a.shape,
                            parameters={"binary_data_size": pb.InferParameter(int64_param=len(raw))})
               for t, a, raw in zip(selected, arrays_out, raw_out, strict=True)]
    return pb.ModelInferResponse(model_name=model.name, model_version=str(model.version), id=request.id,
                                 outputs=outputs, raw_output_contents=raw_out)
