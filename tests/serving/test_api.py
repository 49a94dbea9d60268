"""The live ORT server's protocol surface: health, metadata, versions, formats, limits, metrics."""
import json

import grpc
import httpx
import numpy as np
import orjson
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from serving.clients import JSON, TfRest, V2Grpc, V2Rest

MODELS = ["mnist-keras", "mnist-torch", "mnist-jax"]


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.http_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield GRPCInferenceServiceStub(channel)


@pytest.fixture(scope="module")
def images(test_split):
    return test_split.images[:4]


def test_health_and_server_metadata(http):
    assert http.get("/v2/health/live").json() == {"live": True}
    assert http.get("/v2/health/ready").json() == {"ready": True}
    assert http.get("/v2").json()["name"] == "kserve"
    assert sorted(http.get("/v2/models").json()["models"]) == sorted(MODELS)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("path", ["", "/versions/1"])
def test_v2_model_metadata_and_ready(http, model, path):
    meta = http.get(f"/v2/models/{model}{path}").json()
    assert meta == {"name": model, "versions": ["1"], "platform": "onnxruntime_onnx",
                    "inputs": [{"name": "images", "datatype": "FP32", "shape": [-1, 28, 28]}],
                    "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}]}
    assert http.get(f"/v2/models/{model}{path}/ready").json() == {"name": model, "ready": True}


def test_versions_that_are_not_served_are_404_in_every_form(http, stub, images):
    for url in ["/v2/models/mnist-torch/versions/2", "/v2/models/mnist-torch/versions/2/ready",
                "/v2/models/mnist-torch?model_version=2", "/v1/models/mnist-torch/versions/2",
                "/v1/models/mnist-torch/versions/2/metadata"]:
        r = http.get(url)
        assert r.status_code == 404 and "no version 2" in r.json()["error"], url
    r = http.post("/v2/models/mnist-torch/versions/2/infer", content=V2Rest.encode(images), headers=JSON)
    assert r.status_code == 404
    r = http.post("/v1/models/mnist-torch/versions/2:predict", content=TfRest.encode(images), headers=JSON)
    assert r.status_code == 404
    with pytest.raises(grpc.RpcError) as err:
        stub.ModelInfer(V2Grpc.encode("mnist-torch", images, version=2))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stub.ModelMetadata(pb.ModelMetadataRequest(name="mnist-torch", version="2"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_tfserving_status_and_metadata(http):
    assert http.get("/v1/models/mnist-jax").json() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    meta = http.get("/v1/models/mnist-jax/versions/1/metadata").json()
    assert meta["model_spec"] == {"name": "mnist-jax", "signature_name": "", "version": "1"}
    sig = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert sig["inputs"]["images"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in sig["inputs"]["images"]["tensor_shape"]["dim"]] == ["-1", "28", "28"]
    assert [d["size"] for d in sig["outputs"]["probabilities"]["tensor_shape"]["dim"]] == ["-1", "10"]


def test_every_protocol_and_format_gives_the_same_answer(http, stub, images):
    v2 = V2Rest.decode(http.post("/v2/models/mnist-torch/infer", content=V2Rest.encode(images), headers=JSON).content)
    rows = http.post("/v1/models/mnist-torch:predict", content=TfRest.encode(images), headers=JSON).json()
    columns = http.post("/v1/models/mnist-torch:predict", content=TfRest.encode(images, columnar=True),
                        headers=JSON).json()
    named_rows = http.post("/v1/models/mnist-torch:predict",
                           json={"instances": [{"images": im.tolist()} for im in images]}).json()
    named_columns = http.post("/v1/models/mnist-torch:predict", json={"inputs": {"images": images.tolist()}}).json()
    by_grpc = V2Grpc.decode(stub.ModelInfer(V2Grpc.encode("mnist-torch", images)))
    assert v2.shape == (4, 10)
    for other in (rows["predictions"], columns["outputs"], named_rows["predictions"], named_columns["outputs"],
                  by_grpc):
        np.testing.assert_array_equal(np.asarray(other, np.float32), v2)


def test_v2_binary_tensor_extension(http, images):
    header = orjson.dumps({"inputs": [{"name": "images", "datatype": "FP32", "shape": list(images.shape),
                                       "parameters": {"binary_data_size": images.nbytes}}],
                           "parameters": {"binary_data_output": True}})
    r = http.post("/v2/models/mnist-keras/infer", content=header + images.tobytes(),
                  headers={"content-type": "application/octet-stream",
                           "inference-header-content-length": str(len(header))})
    assert r.status_code == 200, r.text
    json_len = int(r.headers["inference-header-content-length"])
    out = np.frombuffer(r.content[json_len:], dtype=np.float32).reshape(4, 10)
    answer = http.post("/v2/models/mnist-keras/infer", content=V2Rest.encode(images), headers=JSON)
    expected = V2Rest.decode(answer.content)
    np.testing.assert_array_equal(out, expected)


def test_request_id_is_echoed_and_grpc_contents_form_works(http, stub, images):
    body = json.loads(V2Rest.encode(images[:1]))
    body["id"] = "abc-123"
    assert http.post("/v2/models/mnist-jax/infer", json=body).json()["id"] == "abc-123"
    tensor = pb.ModelInferRequest.InferInputTensor(name="images", datatype="FP32", shape=[1, 28, 28],
                                                   contents=pb.InferTensorContents(fp32_contents=images[0].ravel()))
    out = V2Grpc.decode(stub.ModelInfer(pb.ModelInferRequest(model_name="mnist-jax", inputs=[tensor])))
    assert out.shape == (1, 10)


def test_grpc_server_calls(stub):
    assert stub.ServerLive(pb.ServerLiveRequest()).live
    assert stub.ServerReady(pb.ServerReadyRequest()).ready
    assert stub.ModelReady(pb.ModelReadyRequest(name="mnist-keras", version="1")).ready
    meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="mnist-keras"))
    assert (meta.platform, list(meta.versions), list(meta.inputs[0].shape)) == ("onnxruntime_onnx", ["1"], [-1, 28, 28])


def test_repository_control_is_not_exposed(http, stub):
    assert http.post("/v2/repository/models/mnist-torch/unload").status_code == 404
    with pytest.raises(grpc.RpcError) as err:
        stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="mnist-torch"))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert http.get("/v2/models/mnist-torch/ready").json()["ready"] is True


def test_body_over_limit_is_413_before_parsing(http):
    r = http.post("/v1/models/mnist-torch:predict", content=b"[" * (9 << 20))
    assert r.status_code == 413 and "exceeds the limit of 8388608 bytes" in r.json()["error"]


def test_grpc_message_over_limit_is_resource_exhausted(stub):
    big = np.zeros((3000, 28, 28), np.float32)  # 9.4 MB > the 8 MiB limit
    with pytest.raises(grpc.RpcError) as err:
        stub.ModelInfer(V2Grpc.encode("mnist-torch", big))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_metrics_count_requests_by_model_protocol_status_and_batch_sizes(http, stub, images):
    http.post("/v1/models/mnist-torch:predict", content=TfRest.encode(images), headers=JSON)
    http.post("/v1/models/no-such-model:predict", content=TfRest.encode(images), headers=JSON)
    stub.ModelInfer(V2Grpc.encode("mnist-torch", images))
    text = http.get("/metrics").text
    assert 'rosetta_requests_total{model="mnist-torch",protocol="tfserving-rest",status="200"}' in text
    assert 'rosetta_requests_total{model="_unknown",protocol="tfserving-rest",status="404"}' in text
    assert 'rosetta_requests_total{model="mnist-torch",protocol="v2-grpc",status="OK"}' in text
    assert 'rosetta_request_latency_seconds_bucket{le="0.001",model="mnist-torch",protocol="tfserving-rest"}' in text
    assert 'rosetta_batch_size_bucket{le="4.0",model="mnist-torch"}' in text
    assert "no-such-model" not in text  # label values come from a bounded set


def test_download_site_is_served_at_artifacts(artifacts_dir, tmp_path_factory):
    """The ORT server serves the built download page and its index at /artifacts/ (read-only)."""
    import httpx

    from serving.process import ServerProcess
    from web.site import build_site

    site = build_site(artifacts_dir, tmp_path_factory.mktemp("site") / "site")
    with ServerProcess(artifacts_dir, repository=tmp_path_factory.mktemp("repo"),
                       extra_args=["--site", str(site)]) as proc:
        index = httpx.get(f"{proc.http_url}/artifacts/index.json", timeout=10)
        assert index.status_code == 200
        assert {a["format"] for lane in index.json()["lanes"] for a in lane["artifacts"]} >= {"onnx", "tfjs"}
        page = httpx.get(f"{proc.http_url}/artifacts/", timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert httpx.post(f"{proc.http_url}/artifacts/index.json", timeout=10).status_code == 405
