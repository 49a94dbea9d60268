"""The direct gRPC ModelInfer path (serving/protocols/v2_grpc.py) against kserve's servicer on the live server:
the same response message for valid requests, the same status and message for invalid ones. A request with
any parameter goes through kserve (which passes unknown request parameters by), so the same request with one
added is the comparison."""
import grpc
import numpy as np
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from benchmarks.serving.clients import V2Grpc, example_inputs
from rosetta.serving.protocols.v2_grpc import is_plain
from tests.serving.conftest import MODELS
from tests.serving.tiny_models import CLASSIFIER, MULTI_IO

Tensor = pb.ModelInferRequest.InferInputTensor


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield GRPCInferenceServiceStub(channel)


def _via_kserve(request: pb.ModelInferRequest) -> pb.ModelInferRequest:
    routed = pb.ModelInferRequest()
    routed.CopyFrom(request)
    routed.parameters["routed_to_kserve"].bool_param = True
    return routed


def _both(stub, request: pb.ModelInferRequest):
    """(direct answer, kserve answer): a response message or the (code, details) of the error."""
    assert is_plain(request) and not is_plain(_via_kserve(request))
    answers = []
    for r in (request, _via_kserve(request)):
        try:
            answers.append(stub.ModelInfer(r))
        except grpc.RpcError as exc:
            answers.append((exc.code(), exc.details()))
    return answers


def test_plain_form_is_recognised():
    x = example_inputs(MULTI_IO, 2)
    plain = V2Grpc.encode(MULTI_IO.name, x)
    assert is_plain(plain)
    contents = pb.ModelInferRequest(model_name="m", inputs=[Tensor(name="a", datatype="FP32", shape=[1],
                                                                   contents=pb.InferTensorContents(fp32_contents=[1]))])
    assert not is_plain(contents)
    short = pb.ModelInferRequest()
    short.CopyFrom(plain)
    del short.raw_input_contents[-1]
    assert not is_plain(short)
    with_output_param = V2Grpc.encode(MULTI_IO.name, x, outputs=["pooled"])
    with_output_param.outputs[0].parameters["binary_data"].bool_param = True
    assert not is_plain(with_output_param)


@pytest.mark.parametrize("model", MODELS)
def test_valid_requests_get_the_response_kserve_gives(stub, specs, model):
    spec = specs[model]
    x = example_inputs(spec, 3, seed=12)
    for request in (V2Grpc.encode(model, x), V2Grpc.encode(model, x, version=1),
                    V2Grpc.encode(model, x, outputs=list(reversed(spec.output_names)))):
        request.id = "req-7"
        fast, slow = _both(stub, request)
        assert fast == slow, (fast, slow)


def _invalid_cases() -> list[tuple[str, pb.ModelInferRequest]]:
    x, m = example_inputs(CLASSIFIER, 2), example_inputs(MULTI_IO, 2)
    name = CLASSIFIER.name

    def edited(base: pb.ModelInferRequest, **fields) -> pb.ModelInferRequest:
        r = pb.ModelInferRequest()
        r.CopyFrom(base)
        for key, value in fields.items():
            if key == "shape":
                del r.inputs[0].shape[:]
                r.inputs[0].shape.extend(value)
            elif key == "datatype":
                r.inputs[0].datatype = value
            elif key == "raw":
                r.raw_input_contents[0] = value
            elif key == "input_name":
                r.inputs[0].name = value
        return r

    good = V2Grpc.encode(name, x)
    return [("unknown model", V2Grpc.encode("no-such-model", x)),
            ("unknown version", V2Grpc.encode(name, x, version=99)),
            ("wrong datatype", edited(good, datatype="INT64")),
            ("byte count", edited(good, raw=b"\0" * 7)),
            ("spec shape", edited(good, shape=[2, 12])),
            ("empty batch", edited(good, shape=[0, 3, 4], raw=b"")),
            ("too many rows", edited(good, shape=[1001, 3, 4], raw=np.zeros((1001, 3, 4), np.float32).tobytes())),
            ("nan", edited(good, raw=np.full((2, 3, 4), np.nan, np.float32).tobytes())),
            ("renamed input", edited(good, input_name="other")),
            ("unknown output", V2Grpc.encode(name, x, outputs=["nope"])),
            ("repeated output", V2Grpc.encode(name, x, outputs=["scores", "scores"])),
            ("batch disagreement", V2Grpc.encode(MULTI_IO.name, {"sequence": m["sequence"],
                                                                 "token_ids": m["token_ids"][:1]}))]


@pytest.mark.parametrize("case", _invalid_cases(), ids=lambda c: c[0])
def test_invalid_requests_get_the_status_kserve_gives(stub, case):
    fast, slow = _both(stub, case[1])
    assert isinstance(fast, tuple) and fast[0] in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert fast == slow
