"""Serving fixtures: small exported models with a manifest v2 (one single-IO classifier, one multi-IO model)
and one live ONNX Runtime server serving them, shared by the session."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.serving.process import ExternalServer, ServerProcess
from rosetta.core.spec import ModelSpec
from tests.serving.tiny_models import SPECS, build_artifacts

MODELS = [s.name for s in SPECS]  # every test over "any model" runs on both


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_artifacts(tmp_path_factory.mktemp("tiny-artifacts"))


@pytest.fixture(scope="session")
def specs() -> dict[str, ModelSpec]:
    return {s.name: s for s in SPECS}


@pytest.fixture(scope="session")
def server(tiny_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess | ExternalServer]:
    """One ORT server for the session: dynamic batching on, small limits so the limit tests are cheap.
    ROSETTA_SERVE_URL (+ ROSETTA_SERVE_GRPC) points the tests at a running one instead (it must serve the
    same tiny models)."""
    if os.environ.get("ROSETTA_SERVE_URL"):
        external = ExternalServer(os.environ["ROSETTA_SERVE_URL"], os.environ.get("ROSETTA_SERVE_GRPC", ""))
        assert external.is_ready(), f"{external.http_url} is not ready"
        yield external
        return
    with ServerProcess(tiny_artifacts, repository=tmp_path_factory.mktemp("model-repo"),
                       extra_args=["--max-request-rows", "1000", "--max-body-bytes", str(8 << 20)],
                       log_path=tmp_path_factory.mktemp("logs") / "server.log") as proc:
        yield proc
