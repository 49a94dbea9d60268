"""Several versions per model on the live ORT server, and hot reload from a schema-3 manifest: versions and
labels route on every protocol, unknown ones are 404 / NOT_FOUND naming what is served, a new version is
picked up within the poll period, a corrupt or unloadable one is ignored, retired ones go away."""
from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from benchmarks.serving.clients import JSON, TfRest, V2Grpc, V2Rest
from benchmarks.serving.process import ServerProcess
from rosetta.core.digest import file_sha256
from tests.serving.versioned_models import WIDTH, VersionedArtifacts, offset_spec

MODEL = "versioned"
POLL_S = 0.2
X = np.arange(2 * WIDTH, dtype=np.float32).reshape(2, WIDTH)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> VersionedArtifacts:
    store = VersionedArtifacts(tmp_path_factory.mktemp("versioned-artifacts"))
    store.publish(MODEL, 1, offset=1.0, write=False)
    store.publish(MODEL, 2, offset=2.0)  # stable -> 1, canary -> 2
    return store


@pytest.fixture(scope="module")
def server(artifacts: VersionedArtifacts, tmp_path_factory: pytest.TempPathFactory):
    repo = tmp_path_factory.mktemp("versioned-repo")
    with ServerProcess(artifacts.root, repository=repo, log_path=tmp_path_factory.mktemp("logs") / "server.log",
                       extra_args=["--poll-seconds", str(POLL_S), "--log-level", "INFO"]) as proc:
        proc.repository = repo
        yield proc


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.http_url, timeout=30, headers=JSON) as client:
        yield client


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield GRPCInferenceServiceStub(channel)


def _offset(y: np.ndarray) -> float:
    return round(float(np.mean(np.asarray(y, np.float32) - X)), 4)


def v2_rest(http, stub, model: str, version=None, label=None) -> tuple[int, float | str]:
    ref = label if label is not None else version
    path = f"/v2/models/{model}" + (f"/versions/{ref}" if ref is not None else "") + "/infer"
    r = http.post(path, content=V2Rest.encode({"x": X}))
    return (200, _offset(V2Rest.decode(r.content)["y"])) if r.status_code == 200 else (r.status_code, r.json()["error"])


def tf_rest(http, stub, model: str, version=None, label=None) -> tuple[int, float | str]:
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version is not None else "") + (
        f"/labels/{label}" if label is not None else "") + ":predict"
    r = http.post(path, content=TfRest.encode({"x": X}))
    if r.status_code != 200:
        return r.status_code, r.json()["error"]
    return 200, _offset(TfRest.decode(r.content, offset_spec(model))["y"])


def v2_grpc(http, stub, model: str, version=None, label=None) -> tuple[int, float | str]:
    request = V2Grpc.encode(model, {"x": X})
    request.model_version = str(label if label is not None else version if version is not None else "")
    try:
        response = stub.ModelInfer(request)
    except grpc.RpcError as err:
        status = {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.INVALID_ARGUMENT: 400}.get(err.code(), 500)
        return status, err.details()
    if model == MODEL:  # its versions answer x + version: the answer names the version that ran
        assert response.model_version == str(round(_offset(V2Grpc.decode(response)["y"])))
    return 200, _offset(V2Grpc.decode(response)["y"])


PROTOCOLS: dict[str, Callable] = {"v2-rest": v2_rest, "tfserving-rest": tf_rest, "v2-grpc": v2_grpc}


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until condition() held; fails naming `what` after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def _everywhere(http, stub, expected: tuple, **ref) -> Callable[[], bool]:
    """Every protocol answers `expected`: the REST and gRPC connections may reach different server processes
    (several workers poll on their own), so a reload is waited for on each."""
    return lambda: all(call(http, stub, MODEL, **ref) == expected for call in PROTOCOLS.values())


def _metric(http, name: str, **labels: str) -> float:
    """The value of one sample of /metrics (0 when absent)."""
    for line in http.get("/metrics").text.splitlines():
        head, _, value = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        if metric == name and dict(re.findall(r'(\w+)="([^"]*)"', rest)) == labels:
            return float(value)
    return 0.0


def _metric_lines(http, prefix: str) -> str:
    return "\n".join(line for line in http.get("/metrics").text.splitlines() if line.startswith(prefix))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_versions_labels_and_latest_route_on_every_protocol(http, stub, protocol):
    call = PROTOCOLS[protocol]
    assert call(http, stub, MODEL) == (200, 2.0)  # unversioned: the latest served version
    assert call(http, stub, MODEL, version=1) == (200, 1.0)
    assert call(http, stub, MODEL, version=2) == (200, 2.0)
    assert call(http, stub, MODEL, label="stable") == (200, 1.0)
    assert call(http, stub, MODEL, label="canary") == (200, 2.0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_version_or_label_is_404_naming_what_is_served(http, stub, protocol):
    call = PROTOCOLS[protocol]
    served = "served versions: 1, 2; labels: canary -> 2, stable -> 1"
    status, message = call(http, stub, MODEL, version=7)
    assert status == 404 and f"no version 7; {served}" in message
    status, message = call(http, stub, MODEL, label="beta")
    assert status == 404 and "beta" in message and served in message
    status, message = call(http, stub, "no-such-model")
    assert status == 404 and "no-such-model" in message


def test_metadata_and_status_list_the_served_versions(http, stub):
    meta = http.get(f"/v2/models/{MODEL}").json()
    assert meta["versions"] == ["1", "2"] and meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert http.get(f"/v2/models/{MODEL}/versions/stable").json()["versions"] == ["1", "2"]
    assert http.get(f"/v2/models/{MODEL}/versions/1/ready").json() == {"name": MODEL, "ready": True}
    assert list(stub.ModelMetadata(pb.ModelMetadataRequest(name=MODEL, version="canary")).versions) == ["1", "2"]
    assert [s["version"] for s in http.get(f"/v1/models/{MODEL}").json()["model_version_status"]] == ["2", "1"]
    assert http.get(f"/v1/models/{MODEL}/labels/stable").json()["model_version_status"][0]["version"] == "1"
    assert http.get(f"/v1/models/{MODEL}/labels/canary/metadata").json()["model_spec"]["version"] == "2"
    assert http.get(f"/v1/models/{MODEL}/labels/nope/metadata").status_code == 404
    assert _metric(http, "rosetta_model_versions_loaded", model=MODEL) == 2


def test_new_version_is_served_within_the_poll_period(artifacts, http, stub):
    artifacts.publish(MODEL, 3, offset=3.0)  # canary -> 3
    took = _wait_for(_everywhere(http, stub, (200, 3.0)), 5, "v3 served")
    for call in PROTOCOLS.values():
        assert call(http, stub, MODEL, label="canary") == (200, 3.0)
        assert call(http, stub, MODEL, label="stable") == (200, 1.0)
        assert call(http, stub, MODEL, version=2) == (200, 2.0)
    print(f"v3 visible {took:.2f} s after its manifest was written (poll period {POLL_S} s)")
    assert _metric(http, "rosetta_model_version_events_total", model=MODEL, event="loaded") >= 3, \
        _metric_lines(http, "rosetta_")


@pytest.mark.parametrize("bad", ["hash-mismatch", "not-onnx"])
def test_a_bad_new_version_is_skipped_and_the_others_keep_serving(artifacts, http, stub, server, bad):
    version = {"hash-mismatch": 10, "not-onnx": 11}[bad]
    failed_before = _metric(http, "rosetta_model_version_events_total", model=MODEL, event="failed")
    if bad == "hash-mismatch":
        artifacts.publish(MODEL, version, offset=9.0, file_bytes=b"\x08\x08" + b"tampered")
    else:  # the hash matches the file, but ONNX Runtime cannot load it
        path = artifacts.publish(MODEL, version, offset=9.0, write=False)  # no manifest yet: no poll loads it
        path.write_bytes(b"not an onnx model")
        artifacts.entries[(MODEL, version)]["sha256"] = file_sha256(path)
        artifacts.write()
    failed = lambda: _metric(http, "rosetta_model_version_events_total", model=MODEL, event="failed")  # noqa: E731
    _wait_for(lambda: failed() > failed_before, 5, f"the {bad} version refused")
    time.sleep(5 * POLL_S)  # every server process has polled (and refused it) by now...
    refused = failed()
    time.sleep(5 * POLL_S)
    assert failed() == refused, "the same bytes were tried again"  # ...and none retries the same bytes
    status, message = v2_rest(http, stub, MODEL, version=version)
    assert status == 404 and f"no version {version}" in message
    ready = http.get("/v2/health/ready").json()  # still ready; the refused version is named with its reason
    assert v2_rest(http, stub, MODEL)[0] == 200 and ready["ready"] is True
    assert any(name.startswith(f"{MODEL} v") for name in ready["refused_versions"])
    assert v2_rest(http, stub, MODEL, label="canary")[0] == 404  # the label pointed at the bad version
    expected = {"hash-mismatch": "does not match the manifest", "not-onnx": "ONNX Runtime cannot load"}[bad]
    assert expected in server.log_tail(200)
    del artifacts.entries[(MODEL, version)]  # unpublish, so later tests see a clean model
    artifacts.release(MODEL, canary=3)


def test_retired_versions_leave_the_table_and_the_repository(artifacts, http, stub, server):
    artifacts.release(MODEL, stable=3, canary=None, retire=(1, 2))
    _wait_for(lambda: all(call(http, stub, MODEL, version=1)[0] == 404 for call in PROTOCOLS.values()), 5,
              "v1 retired")
    for call in PROTOCOLS.values():
        assert call(http, stub, MODEL, version=2)[0] == 404
        assert call(http, stub, MODEL, label="stable") == (200, 3.0)
        assert call(http, stub, MODEL, label="canary")[0] == 404
    assert http.get(f"/v2/models/{MODEL}").json()["versions"] == ["3"]
    repo: Path = server.repository / MODEL
    _wait_for(lambda: sorted(p.name for p in repo.iterdir()) == ["3"], 5, "retired versions' files removed")
    _wait_for(lambda: _metric(http, "rosetta_model_versions_loaded", model=MODEL) == 1, 5, "the gauge at 1")
    assert _metric(http, "rosetta_model_version_events_total", model=MODEL, event="retired") >= 2


def test_new_model_and_broken_manifest(artifacts, http, stub, server):
    artifacts.publish("versioned-b", 1, offset=5.0)
    _wait_for(lambda: all(call(http, stub, "versioned-b") == (200, 5.0) for call in PROTOCOLS.values()), 5,
              "a new model served")
    (artifacts.root / "manifest.json").write_text("{ not json")
    errors = _metric(http, "rosetta_manifest_polls_total", result="error")
    _wait_for(lambda: _metric(http, "rosetta_manifest_polls_total", result="error") > errors, 5, "a failed poll")
    assert v2_rest(http, stub, MODEL) == (200, 3.0) and v2_rest(http, stub, "versioned-b") == (200, 5.0)
    assert http.get("/v2/health/ready").json()["ready"] is True
    artifacts.write()
