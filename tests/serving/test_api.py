"""The live ORT server's protocol surface on a single-IO and a multi-IO model: health, metadata straight from
the spec, versions, every request format, output selection, limits, metrics."""
import json

import grpc
import httpx
import numpy as np
import orjson
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from benchmarks.serving.clients import JSON, TfRest, V2Grpc, V2Rest, example_inputs
from tests.serving.conftest import MODELS
from tests.serving.tiny_models import CLASSIFIER, MULTI_IO

Tensor = pb.ModelInferRequest.InferInputTensor


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield GRPCInferenceServiceStub(channel)


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_health_and_server_metadata(http):
    assert http.get("/v2/health/live").json() == {"live": True}
    assert http.get("/v2/health/ready").json() == {"ready": True}
    assert http.get("/v2").json()["name"] == "kserve"
    assert sorted(http.get("/v2/models").json()["models"]) == sorted(MODELS)  # the failed entry is not served


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("path", ["", "/versions/1"])
def test_v2_model_metadata_is_the_spec(http, stub, specs, model, path):
    spec = specs[model].to_json()
    strip = lambda ts: [{k: t[k] for k in ("name", "datatype", "shape")} for t in ts]  # noqa: E731
    meta = http.get(f"/v2/models/{model}{path}").json()
    assert meta == {"name": model, "versions": ["1"], "platform": "onnxruntime_onnx",
                    "inputs": strip(spec["inputs"]), "outputs": strip(spec["outputs"])}
    assert http.get(f"/v2/models/{model}{path}/ready").json() == {"name": model, "ready": True}
    by_grpc = stub.ModelMetadata(pb.ModelMetadataRequest(name=model, version=path.rsplit("/", 1)[-1]))
    assert [(t.name, t.datatype, list(t.shape)) for t in by_grpc.inputs] == [
        (t["name"], t["datatype"], t["shape"]) for t in spec["inputs"]]
    assert [(t.name, t.datatype, list(t.shape)) for t in by_grpc.outputs] == [
        (t["name"], t["datatype"], t["shape"]) for t in spec["outputs"]]


def test_versions_that_are_not_served_are_404_in_every_form(http, stub):
    x = example_inputs(CLASSIFIER, 2)
    m = CLASSIFIER.name
    for url in [f"/v2/models/{m}/versions/2", f"/v2/models/{m}/versions/2/ready", f"/v2/models/{m}?model_version=2",
                f"/v1/models/{m}/versions/2", f"/v1/models/{m}/versions/2/metadata"]:
        r = http.get(url)
        assert r.status_code == 404 and "no version 2" in r.json()["error"], url
    assert http.post(V2Rest.path(m, 2), content=V2Rest.encode(x), headers=JSON).status_code == 404
    assert http.post(TfRest.path(m, 2), content=TfRest.encode(x), headers=JSON).status_code == 404
    for call in (lambda: stub.ModelInfer(V2Grpc.encode(m, x, version=2)),
                 lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name=m, version="2"))):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("model", MODELS)
def test_tfserving_status_and_metadata_from_the_spec(http, specs, model):
    assert http.get(f"/v1/models/{model}").json() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    meta = http.get(f"/v1/models/{model}/versions/1/metadata").json()
    assert meta["model_spec"] == {"name": model, "signature_name": "", "version": "1"}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    tf_dtype = {"FP32": "DT_FLOAT", "INT64": "DT_INT64"}
    for side, tensors in (("inputs", specs[model].inputs), ("outputs", specs[model].outputs)):
        assert list(sig[side]) == [t.name for t in tensors]
        for t in tensors:
            assert sig[side][t.name]["dtype"] == tf_dtype[t.datatype]
            assert [int(d["size"]) for d in sig[side][t.name]["tensor_shape"]["dim"]] == list(t.shape)


@pytest.mark.parametrize("model", MODELS)
def test_every_protocol_and_format_gives_the_same_answer(http, stub, specs, model):
    spec = specs[model]
    x = example_inputs(spec, 4, seed=3)
    v2 = V2Rest.decode(http.post(V2Rest.path(model), content=V2Rest.encode(x), headers=JSON).content)
    assert [v2[t.name].shape for t in spec.outputs] == [(4, *t.shape[1:]) for t in spec.outputs]
    answers = []
    for columnar in (False, True):
        for named in (False, True):
            r = http.post(TfRest.path(model), content=TfRest.encode(x, columnar=columnar, named=named), headers=JSON)
            assert r.status_code == 200, r.text
            doc = r.json()
            assert set(doc) == {"outputs" if columnar else "predictions"}
            answers.append(TfRest.decode(r.content, spec))
    answers.append(V2Grpc.decode(stub.ModelInfer(V2Grpc.encode(model, x))))
    for other in answers:
        _same(other, v2)


def test_tfserving_answer_shapes_follow_tf_serving():
    """One output: bare; several: by name, per instance (row) or per column."""
    from rosetta.serving.protocols.tfserving_rest import predict_response

    pooled, ids = np.ones((2, 4), np.float32), np.arange(6).reshape(2, 3)
    outs = {"pooled": pooled, "doubled_ids": ids}
    rows = orjson.loads(orjson.dumps(predict_response(outs, MULTI_IO, True), option=orjson.OPT_SERIALIZE_NUMPY))
    assert rows == {"predictions": [{"pooled": [1.0] * 4, "doubled_ids": [0, 1, 2]},
                                    {"pooled": [1.0] * 4, "doubled_ids": [3, 4, 5]}]}
    columns = predict_response(outs, MULTI_IO, False)
    assert set(columns["outputs"]) == {"pooled", "doubled_ids"}
    assert predict_response({"scores": pooled}, CLASSIFIER, True)["predictions"] is pooled


@pytest.mark.parametrize("model", MODELS)
def test_v2_outputs_selection_any_subset(http, stub, specs, model):
    spec = specs[model]
    x = example_inputs(spec, 3, seed=4)
    everything = V2Rest.decode(http.post(V2Rest.path(model), content=V2Rest.encode(x), headers=JSON).content)
    for subset in ([spec.output_names[-1]], list(reversed(spec.output_names))):
        r = http.post(V2Rest.path(model), content=V2Rest.encode(x, outputs=subset), headers=JSON)
        assert [o["name"] for o in r.json()["outputs"]] == subset
        _same(V2Rest.decode(r.content), {n: everything[n] for n in subset})
        by_grpc = stub.ModelInfer(V2Grpc.encode(model, x, outputs=subset))
        assert [o.name for o in by_grpc.outputs] == subset
        _same(V2Grpc.decode(by_grpc), {n: everything[n] for n in subset})


@pytest.mark.parametrize("model", MODELS)
def test_v2_binary_tensor_extension_with_every_input(http, specs, model):
    spec = specs[model]
    x = example_inputs(spec, 4, seed=5)
    header = orjson.dumps({"inputs": [{"name": n, "datatype": spec.input(n).datatype, "shape": list(a.shape),
                                       "parameters": {"binary_data_size": a.nbytes}} for n, a in x.items()],
                           "parameters": {"binary_data_output": True}})
    r = http.post(V2Rest.path(model), content=header + b"".join(a.tobytes() for a in x.values()),
                  headers={"content-type": "application/octet-stream",
                           "inference-header-content-length": str(len(header))})
    assert r.status_code == 200, r.text
    json_len = int(r.headers["inference-header-content-length"])
    head, offset, binary = json.loads(r.content[:json_len]), json_len, {}
    for out in head["outputs"]:
        size = out["parameters"]["binary_data_size"]
        binary[out["name"]] = np.frombuffer(r.content[offset:offset + size],
                                            dtype=spec.output(out["name"]).dtype).reshape(out["shape"])
        offset += size
    _same(binary, V2Rest.decode(http.post(V2Rest.path(model), content=V2Rest.encode(x), headers=JSON).content))


def test_request_id_is_echoed_and_grpc_contents_form_works(http, stub):
    x = example_inputs(MULTI_IO, 2, seed=6)
    body = json.loads(V2Rest.encode(x))
    body["id"] = "abc-123"
    assert http.post(V2Rest.path(MULTI_IO.name), json=body).json()["id"] == "abc-123"
    contents = pb.InferTensorContents
    tensors = [Tensor(name="sequence", datatype="FP32", shape=list(x["sequence"].shape),
                      contents=contents(fp32_contents=x["sequence"].ravel())),
               Tensor(name="token_ids", datatype="INT64", shape=[2, 3],
                      contents=contents(int64_contents=x["token_ids"].ravel()))]
    out = V2Grpc.decode(stub.ModelInfer(pb.ModelInferRequest(model_name=MULTI_IO.name, inputs=tensors)))
    _same(out, V2Grpc.decode(stub.ModelInfer(V2Grpc.encode(MULTI_IO.name, x))))
    np.testing.assert_array_equal(out["doubled_ids"], x["token_ids"] * 2)


def test_free_dimension_requests_of_different_sizes_are_each_answered(http, stub):
    """The batcher may only merge requests whose free dimensions agree; each gets its own answer."""
    from concurrent.futures import ThreadPoolExecutor

    xs = [example_inputs(MULTI_IO, 2, seed=s, free_dim=1 + s % 4) for s in range(24)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda x: V2Grpc.decode(stub.ModelInfer(V2Grpc.encode(MULTI_IO.name, x))), xs))
    for x, answer in zip(xs, answers, strict=True):
        alone = V2Rest.decode(http.post(V2Rest.path(MULTI_IO.name), content=V2Rest.encode(x), headers=JSON).content)
        _same(answer, alone)


def test_grpc_server_calls(stub):
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name=CLASSIFIER.name, version="1")).ready
    meta = stub.ModelMetadata(pb.ModelMetadataRequest(name=CLASSIFIER.name))
    assert (meta.platform, list(meta.versions), list(meta.inputs[0].shape)) == ("onnxruntime_onnx", ["1"], [-1, 3, 4])


def test_repository_control_is_not_exposed(http, stub):
    assert http.post(f"/v2/repository/models/{CLASSIFIER.name}/unload").status_code == 404
    with pytest.raises(grpc.RpcError) as err:
        stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name=CLASSIFIER.name))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert http.get(f"/v2/models/{CLASSIFIER.name}/ready").json()["ready"] is True


def test_body_over_limit_is_413_before_parsing(http):
    r = http.post(TfRest.path(CLASSIFIER.name), content=b"[" * (9 << 20))
    assert r.status_code == 413 and "exceeds the limit of 8388608 bytes" in r.json()["error"]


def test_grpc_message_over_limit_is_resource_exhausted(stub):
    big = {"pixels": np.zeros((200_000, 3, 4), np.float32)}  # 9.6 MB > the 8 MiB limit
    with pytest.raises(grpc.RpcError) as err:
        stub.ModelInfer(V2Grpc.encode(CLASSIFIER.name, big))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_metrics_count_requests_by_model_protocol_status_and_batch_sizes(http, stub):
    m = MULTI_IO.name
    x = example_inputs(MULTI_IO, 4)
    http.post(TfRest.path(m), content=TfRest.encode(x), headers=JSON)
    http.post(TfRest.path("no-such-model"), content=TfRest.encode(x), headers=JSON)
    stub.ModelInfer(V2Grpc.encode(m, x))
    text = http.get("/metrics").text
    assert f'rosetta_requests_total{{model="{m}",protocol="tfserving-rest",status="200"}}' in text
    assert 'rosetta_requests_total{model="_unknown",protocol="tfserving-rest",status="404"}' in text
    assert f'rosetta_requests_total{{model="{m}",protocol="v2-grpc",status="OK"}}' in text
    assert f'rosetta_request_latency_seconds_bucket{{le="0.001",model="{m}",protocol="tfserving-rest"}}' in text
    assert f'rosetta_batch_size_bucket{{le="4.0",model="{m}"}}' in text
    assert "no-such-model" not in text  # label values come from a bounded set


def test_download_site_is_served_at_artifacts(artifacts_dir, tmp_path_factory):
    """The ORT server serves the built download page and its index at /artifacts/ (read-only)."""
    from benchmarks.serving.process import ServerProcess
    from rosetta.web.site import build_site

    site = build_site(artifacts_dir, tmp_path_factory.mktemp("site") / "site")
    with ServerProcess(artifacts_dir, repository=tmp_path_factory.mktemp("repo"),
                       extra_args=["--site", str(site)]) as proc:
        index = httpx.get(f"{proc.http_url}/artifacts/index.json", timeout=10)
        assert index.status_code == 200
        assert {a["format"] for model in index.json()["models"] for a in model["artifacts"]} >= {"onnx", "tfjs"}
        page = httpx.get(f"{proc.http_url}/artifacts/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert httpx.post(f"{proc.http_url}/artifacts/index.json", timeout=10).status_code == 405
