"""A server that survives its artifacts: a corrupt model does not stop the healthy ones (unless --strict-models),
readiness names what is unavailable and why, and a manifest truncated mid-write, a model directory deleted or a
bad new version arriving by hot reload never take down or replace what is served."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from benchmarks.serving.clients import V2Rest, example_inputs
from benchmarks.serving.process import ROOT, ServerProcess
from tests.serving.tiny_models import CLASSIFIER, MULTI_IO

POLL_S = 0.2


@pytest.fixture
def artifacts_copy(tiny_artifacts: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_artifacts, tmp_path / "artifacts"))


def _corrupt(artifacts: Path, model: str) -> None:
    path = artifacts / model / "onnx" / "model.onnx"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")


def _infer(http: httpx.Client, model: str, spec, version: int | None = None) -> httpx.Response:
    return http.post(V2Rest.path(model, version), content=V2Rest.encode(example_inputs(spec, rows=2)))


def _wait_for(condition, seconds: float, what: str, server: ServerProcess) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} not seen within {seconds} s:\n{server.log_tail()}"
        time.sleep(0.1)


def test_strict_models_refuses_to_start_with_a_corrupt_model(artifacts_copy, tmp_path):
    _corrupt(artifacts_copy, CLASSIFIER.name)
    proc = subprocess.run([sys.executable, "-m", "rosetta.serving", "--artifacts", str(artifacts_copy), "--workers",
                           "1", "--strict-models", "--http-port", "1", "--grpc-port", "2"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert f"rosetta serve: error: {CLASSIFIER.name} v1: refusing" in proc.stderr and "does not match" in proc.stderr


def test_corrupt_model_leaves_the_healthy_ones_served_and_readiness_says_why(artifacts_copy, tmp_path):
    _corrupt(artifacts_copy, CLASSIFIER.name)
    with ServerProcess(artifacts_copy, extra_args=["--workers", "1"], log_path=tmp_path / "server.log") as server, \
            httpx.Client(base_url=server.http_url, timeout=10) as http:
        ready = http.get("/v2/health/ready")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert body["ready"] is True and body["strict_models"] is False and body["models"] == [MULTI_IO.name]
        assert "SHA-256" in body["unavailable"][CLASSIFIER.name]
        assert _infer(http, MULTI_IO.name, MULTI_IO).status_code == 200
        model_ready = http.get(f"/v2/models/{CLASSIFIER.name}/ready")
        assert model_ready.status_code == 503 and "does not match the manifest" in model_ready.json()["error"]
        refused = _infer(http, CLASSIFIER.name, CLASSIFIER)
        assert refused.status_code == 503 and "unavailable" in refused.json()["error"]
        assert http.get("/v2/models/no-such-model/ready").status_code == 404  # unknown stays unknown
        assert f"not serving {CLASSIFIER.name}" in server.log_tail(200)


def test_artifacts_changing_under_a_running_server_never_take_it_down(artifacts_copy, tmp_path):
    manifest_path = artifacts_copy / "manifest.json"
    good = manifest_path.read_text()
    with ServerProcess(artifacts_copy, extra_args=["--workers", "1", "--poll-seconds", str(POLL_S)],
                       log_path=tmp_path / "server.log") as server, \
            httpx.Client(base_url=server.http_url, timeout=10) as http:
        assert http.get("/v2/health/ready").json() == {"ready": True}  # all healthy: KServe's answer as is
        # A manifest truncated mid-write (a writer that does not replace atomically, a full disk).
        manifest_path.write_text(good[: len(good) // 2])
        _wait_for(lambda: "not valid JSON" in server.log_tail(200), 10, "the truncated manifest logged", server)
        assert server.alive() and _infer(http, CLASSIFIER.name, CLASSIFIER).status_code == 200
        # A model directory deleted: its loaded version stays in memory and keeps answering.
        shutil.rmtree(artifacts_copy / MULTI_IO.name)
        manifest_path.write_text(good)
        time.sleep(4 * POLL_S)
        assert _infer(http, MULTI_IO.name, MULTI_IO).status_code == 200
        # A bad version 2 arriving by hot reload (its file does not match its hash) never replaces version 1.
        manifest = json.loads(good)
        v1 = next(e for e in manifest["artifacts"] if e["model_name"] == CLASSIFIER.name)
        v2_file = artifacts_copy / CLASSIFIER.name / "2" / "onnx" / "model.onnx"
        v2_file.parent.mkdir(parents=True)
        v2_file.write_bytes(b"half an onnx file")
        manifest["artifacts"].append({**v1, "version": 2, "path": f"{CLASSIFIER.name}/2/onnx/model.onnx"})
        manifest_path.write_text(json.dumps(manifest))
        _wait_for(lambda: f"{CLASSIFIER.name} v2" in http.get("/v2/health/ready").json().get("refused_versions", {}),
                  10, "v2 refused", server)
        assert http.get("/v2/health/ready").json()["unavailable"] == {}
        answer = _infer(http, CLASSIFIER.name, CLASSIFIER)
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"
        assert http.get(f"/v2/models/{CLASSIFIER.name}").json()["versions"] == ["1"]
        assert http.get("/v2/health/ready").status_code == 200 and server.alive()
        log = server.log_tail(400)
        assert f"not serving {CLASSIFIER.name} v2" in log and "still serving the loaded versions" in log
