"""Serving fixtures: the artifacts to serve and one live ONNX Runtime server shared by the session."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.process import ExternalServer, ServerProcess


@pytest.fixture(scope="session")
def server(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess | ExternalServer]:
    """One ORT server for the session: dynamic batching on, small limits so the limit tests are cheap.
    ROSETTA_SERVE_URL (+ ROSETTA_SERVE_GRPC) points the tests at a running one instead (the container)."""
    if os.environ.get("ROSETTA_SERVE_URL"):
        external = ExternalServer(os.environ["ROSETTA_SERVE_URL"], os.environ.get("ROSETTA_SERVE_GRPC", ""))
        assert external.is_ready(), f"{external.http_url} is not ready"
        yield external
        return
    with ServerProcess(artifacts_dir, repository=tmp_path_factory.mktemp("model-repo"),
                       extra_args=["--max-request-rows", "1000", "--max-body-bytes", str(8 << 20)],
                       log_path=tmp_path_factory.mktemp("logs") / "server.log") as proc:
        yield proc
