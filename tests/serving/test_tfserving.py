"""TF Serving: its three config files parse as TF Serving's protos and match the Dockerfile; against a live
TF Serving (TFSERVING_REST_URL / TFSERVING_GRPC_TARGET, e.g. the compose services) every lane's SavedModel
answers like its source model over REST :predict and gRPC PredictionService.Predict."""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

ROOT = Path(__file__).resolve().parents[2]
TFS = ROOT / "serving" / "tfserving"
PROTOS = Path(__file__).with_name("protos")
LANES = ["keras", "torch", "jax"]
REST_URL = os.environ.get("TFSERVING_REST_URL")
GRPC_TARGET = os.environ.get("TFSERVING_GRPC_TARGET")
NO_ENDPOINT = "no TF Serving endpoint configured: set {} (e.g. {}) to run against a live TF Serving"


@pytest.fixture(scope="module")
def tfs_protos(tmp_path_factory):
    """monitoring_config_pb2 and session_bundle_config_pb2, compiled from the vendored TF Serving 2.19.0
    sources (tensorflow-serving-api ships neither) with grpc_tools' protoc."""
    out = tmp_path_factory.mktemp("tfs_pb2")
    sources = ["tensorflow_serving/config/monitoring_config.proto",
               "tensorflow_serving/servables/tensorflow/session_bundle_config.proto"]
    import grpc_tools
    include = Path(grpc_tools.__file__).parent / "_proto"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", f"-I{include}",
                    f"--python_out={out}", *sources], check=True)
    modules = {}
    for source in sources:
        module_name = source.removesuffix(".proto").replace("/", ".") + "_pb2"
        spec = importlib.util.spec_from_file_location(module_name, out / (source.removesuffix(".proto") + "_pb2.py"))
        modules[module_name.rsplit(".", 1)[1]] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return modules


def _parse(path: Path, message):
    return text_format.Parse(path.read_text(), message)


def test_models_config_serves_each_lane_pinned_to_version_1():
    config = _parse(TFS / "models.config", model_server_config_pb2.ModelServerConfig())
    models = {c.name: c for c in config.model_config_list.config}
    assert sorted(models) == sorted(f"mnist-{lane}" for lane in LANES)
    for name, c in models.items():
        assert c.base_path == f"/models/{name}" and c.model_platform == "tensorflow"
        assert list(c.model_version_policy.specific.versions) == [1]


def test_batching_config_is_valid_batching_parameters(tfs_protos):
    params = _parse(TFS / "batching.config", tfs_protos["session_bundle_config_pb2"].BatchingParameters())
    assert params.max_batch_size.value == 1024  # the ORT server's per-request row limit too
    assert params.enable_large_batch_splitting.value and params.max_execution_batch_size.value <= 1024
    assert params.batch_timeout_micros.value <= 5000 and params.num_batch_threads.value >= 1


def test_monitoring_config_exposes_prometheus(tfs_protos):
    config = _parse(TFS / "monitoring.config", tfs_protos["monitoring_config_pb2"].MonitoringConfig())
    assert config.prometheus_config.enable
    assert config.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_every_base_path_is_copied_from_its_lanes_savedmodel_and_configs_land_in_etc():
    dockerfile = (TFS / "Dockerfile").read_text()
    copies = dict(re.findall(r"^COPY (artifacts/\S+) (/models/\S+)$", dockerfile, re.M))
    config = _parse(TFS / "models.config", model_server_config_pb2.ModelServerConfig())
    for c in config.model_config_list.config:
        lane = c.name.removeprefix("mnist-")
        assert copies.get(f"artifacts/{lane}/savedmodel/{c.name}/") == f"{c.base_path}/", c.name
    assert re.search(r"^FROM tensorflow/serving:\d+\.\d+\.\d+$", dockerfile, re.M)
    assert "COPY serving/tfserving/models.config serving/tfserving/batching.config " \
           "serving/tfserving/monitoring.config /etc/tfserving/" in dockerfile
    for flag in ("--model_config_file=/etc/tfserving/models.config",
                 "--batching_parameters_file=/etc/tfserving/batching.config",
                 "--monitoring_config_file=/etc/tfserving/monitoring.config", "--enable_batching=true"):
        assert flag in dockerfile


def _source(artifacts_dir: Path, lane: str) -> np.ndarray:
    return np.load(artifacts_dir / lane / "source_probabilities.npy")


def _check_against_source(served: np.ndarray, source: np.ndarray) -> None:
    assert served.shape == source.shape
    assert np.abs(served - source).max() <= 1e-5
    assert (served.argmax(1) == source.argmax(1)).all()


@pytest.mark.slow
@pytest.mark.skipif(not REST_URL, reason=NO_ENDPOINT.format("TFSERVING_REST_URL", "http://127.0.0.1:8501"))
@pytest.mark.parametrize("lane", LANES)
def test_live_tfserving_rest_predict_matches_source(artifacts_dir, test_split, lane):
    out = []
    with httpx.Client(base_url=REST_URL, timeout=60) as http:
        assert http.get(f"/v1/models/mnist-{lane}").json()["model_version_status"][0]["state"] == "AVAILABLE"
        for i in range(0, len(test_split.images), 500):
            r = http.post(f"/v1/models/mnist-{lane}:predict",
                          json={"instances": test_split.images[i:i + 500].tolist()})
            assert r.status_code == 200, r.text[:300]
            out.append(np.asarray(r.json()["predictions"], np.float32))
    _check_against_source(np.concatenate(out), _source(artifacts_dir, lane))


@pytest.mark.slow
@pytest.mark.skipif(not GRPC_TARGET, reason=NO_ENDPOINT.format("TFSERVING_GRPC_TARGET", "127.0.0.1:8500"))
@pytest.mark.parametrize("lane", LANES)
def test_live_tfserving_grpc_predict_matches_source(artifacts_dir, test_split, lane):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    out = []
    with grpc.insecure_channel(GRPC_TARGET, options=[("grpc.max_receive_message_length", 64 << 20)]) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for i in range(0, len(test_split.images), 500):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = f"mnist-{lane}"
            request.model_spec.signature_name = "serving_default"
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(test_split.images[i:i + 500]))
            response = stub.Predict(request, timeout=60)
            key = "probabilities" if "probabilities" in response.outputs else next(iter(response.outputs))
            out.append(tf.make_ndarray(response.outputs[key]).astype(np.float32))
    _check_against_source(np.concatenate(out), _source(artifacts_dir, lane))
