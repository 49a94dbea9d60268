"""serving/openapi.yaml describes the live REST API: every documented operation is routed, the server serves
the document, and a bounded schemathesis campaign finds no 5xx and no undocumented status or body."""
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from benchmarks.serving.clients import JSON, TfRest, example_inputs
from tests.serving.tiny_models import CLASSIFIER, MULTI_IO

OPENAPI = Path(__file__).resolve().parents[2] / "serving" / "openapi.yaml"
SAMPLE = {"model_name": CLASSIFIER.name, "model_version": "1", "version": "1", "label": "stable"}


@pytest.fixture(scope="module")
def document() -> dict:
    return yaml.safe_load(OPENAPI.read_text())


def test_served_document_is_the_curated_one(server, document):
    assert httpx.get(f"{server.http_url}/openapi.json").json() == document


def test_every_documented_operation_is_routed_and_answers_a_documented_status(server, document):
    with httpx.Client(base_url=server.http_url, headers=JSON) as http:
        for path, item in document["paths"].items():
            for method, op in item.items():
                if method == "parameters":
                    continue
                url = path.format(**SAMPLE)
                body = {"post": b'{"instances": []}' if path.startswith("/v1") else b"{}"}.get(method)
                r = http.request(method.upper(), url, content=body)
                assert "no such route" not in r.text and r.status_code != 405, (method, url)
                assert str(r.status_code) in op["responses"], (method, url, r.status_code, r.text[:200])


def test_kserve_routes_we_do_not_serve_stay_unrouted(server):
    with httpx.Client(base_url=server.http_url, headers=JSON) as http:
        # 405: the path is our GET /v1/models/{model_name} with the name "<model>:explain"
        assert http.post(f"/v1/models/{CLASSIFIER.name}:explain", content=b"{}").status_code in (404, 405)
        assert http.get("/v1/models").status_code == 404
        assert http.post(f"/v2/repository/models/{CLASSIFIER.name}/load").status_code == 404


@pytest.mark.slow
def test_schemathesis_campaign_finds_no_server_error_or_undocumented_answer(server, tmp_path):
    cli = Path(sys.executable).with_name("schemathesis")
    proc = subprocess.run(
        [str(cli), "run", f"{server.http_url}/openapi.json",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
         "--phases", "examples,coverage,fuzzing", "--max-examples", "10", "--max-time", "20", "--seed", "20261127",
         "--workers", "2", "--request-timeout", "10", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)  # its caches (.hypothesis/) stay out of the repo
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Tested: 20" in proc.stdout  # every documented operation was exercised
    assert server.is_ready()
    for spec in (CLASSIFIER, MULTI_IO):
        r = httpx.post(f"{server.http_url}{TfRest.path(spec.name)}", content=TfRest.encode(example_inputs(spec, 2)),
                       headers=JSON)
        assert r.status_code == 200 and len(r.json()["predictions"]) == 2
