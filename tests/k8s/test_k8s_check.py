"""`make k8s-check` end to end: passes on the repo, and fails on manifests and Dockerfiles it should reject."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = ["make", "--no-print-directory", "-f", "k8s/k8s.mk"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

INSECURE = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replica: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: web, image: "nginx:latest", securityContext: {privileged: true}}
"""
BAD_DOCKERFILE = """\
FROM python:latest
RUN apt-get update && apt-get install -y curl
CMD ["python"]
"""


def run(cmd, **env):
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env}, timeout=600
    )


@pytest.fixture(scope="module")
def k8s_venv():
    made = run([*MAKE, "k8s-venv"])
    if made.returncode != 0:
        pytest.skip(f".venv-k8s could not be created (no PyPI?):\n{(made.stdout + made.stderr)[-2000:]}")


def test_k8s_check_passes_on_the_repo(k8s_venv):
    result = run([*MAKE, "k8s-check"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "k8s-check: OK" in result.stdout
    for overlay in ("dev", "prod"):
        assert f"PASS  render k8s/overlays/{overlay}" in result.stdout
    assert "PASS  render k8s/training" in result.stdout
    assert "k8s_training.yaml" in result.stdout.split("PASS  schema")[1].splitlines()[0]  # schema-validated too


def test_k8s_check_rejects_bad_manifests_and_dockerfiles(k8s_venv, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "kustomization.yaml").write_text("resources: [deployment.yaml]\n")
    (tmp_path / "app" / "deployment.yaml").write_text(INSECURE)
    (tmp_path / "Dockerfile").write_text(BAD_DOCKERFILE)
    result = run(
        ["tools/k8s-check/check.sh", str(tmp_path / "app")],
        K8S_CHECK_OUT=str(tmp_path / "out"),
        K8S_CHECK_DOCKERFILES=str(tmp_path / "Dockerfile"),
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "k8s-check: FAILED" in out
    assert "PASS  render" in out
    assert "'replica' was unexpected" in out  # strict schema validation
    for step in ("schema", "checkov kubernetes", "checkov dockerfile", "hadolint"):
        assert f"FAIL  {step}" in out, step
    assert "CKV_K8S_16" in out  # privileged container
    assert "DL3007" in out  # FROM ...:latest
