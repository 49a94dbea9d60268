"""The ORT server image, trusted without Docker: its files laid out as serving/onnx/Dockerfile copies them (and
its .dockerignore filters them), its ENTRYPOINT run by a virtualenv holding exactly serving/onnx/requirements.txt
(`make onnx-image-venv`), and the live server's answers equal to the source model's on the exporter's samples.
A package the image lacks makes the server fail to start here, as it would in the container."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from packaging.utils import canonicalize_name

from benchmarks.serving.clients import RestClient, TfRest, V2Rest
from rosetta.core import manifest
from rosetta.core.manifest import Entry
from rosetta.core.spec import ModelSpec
from rosetta.exporters.pipeline import SAMPLE_INPUTS, SOURCE_OUTPUTS
from tests.serving.image_standin import DOCKERFILE, REQUIREMENTS, VENV, DockerIgnore, ImageServer, lay_out, venv_stamp
from tools import lock

PYTHON = VENV / "bin" / "python"
TOLERANCE = 1e-5
# In the project's venv (the test runner), never in the image: what a forgotten requirement looks like.
NOT_IN_IMAGE = "pytest"


@pytest.fixture(scope="module")
def clean_venv() -> Path:
    if not venv_stamp().is_file():
        pytest.skip(f"{VENV.name} is missing or stale for {REQUIREMENTS.name}: `make onnx-image-venv` builds it "
                    "(`make test` does)")
    return PYTHON


def _run_in(layout: Path, python: Path, *args: str) -> subprocess.CompletedProcess:
    """`python args` as the container would: cwd = the layout, no environment from this process."""
    return subprocess.run(["env", "-i", "-C", str(layout), "PATH=/usr/bin:/bin", str(python), *args],
                          capture_output=True, text=True, timeout=120)


def test_dockerignore_lets_through_what_the_image_needs_only():
    ignore = DockerIgnore((DOCKERFILE.parent / "Dockerfile.dockerignore").read_text())
    kept = ["serving/__main__.py", "serving/server/app.py", "rosetta/core/spec.py", "rosetta/core/manifest.py",
            "artifacts/manifest.json",
            "artifacts/any-model/1/onnx/model.onnx", "artifacts/any-model/12/onnx/model.onnx",
            "artifacts/site/index.html"]
    dropped = ["rosetta/cli/__init__.py", "rosetta/api.py", "exporters/pipeline.py", "serving/tfserving/config.py", "serving/server/__pycache__/app.cpython-311.pyc",
               "artifacts/any-model/model.pt", "artifacts/any-model/1/savedmodel/saved_model.pb",
               "artifacts/any-model/1/source_outputs.npz", "artifacts/any-model/1/tfjs/model.json",
               "artifacts/any-model/.2.x.staging/version/onnx/model.onnx", "models/mlp.py", ".venv/bin/python"]
    assert [p for p in kept if ignore.excluded(p)] == []
    assert [p for p in dropped if not ignore.excluded(p)] == []


def test_clean_venv_holds_exactly_the_image_requirements(clean_venv):
    listed = subprocess.run([str(clean_venv), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                            capture_output=True, text=True, check=True, timeout=120).stdout
    installed = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed)}
    installed.pop("pip")  # the interpreter's own installer, in the python base image too
    assert installed == {n: p.version for n, p in lock.parse(REQUIREMENTS.read_text()).items()}


def test_a_package_the_image_lacks_stops_the_server(clean_venv, tmp_path):
    assert find_spec(NOT_IN_IMAGE) is not None and NOT_IN_IMAGE not in lock.parse(REQUIREMENTS.read_text())
    (tmp_path / "artifacts").mkdir()
    layout = lay_out(tmp_path / "srv", artifacts=tmp_path / "artifacts")
    # As laid out, the server's entry module imports in the clean venv: the failure below is the extra import's.
    ok = _run_in(layout, clean_venv, "-c", "import rosetta.serving.__main__")
    assert ok.returncode == 0, ok.stderr
    main = layout / "rosetta" / "serving" / "__main__.py"
    future = "from __future__ import annotations\n"
    assert future in main.read_text()
    main.write_text(main.read_text().replace(future, f"{future}import {NOT_IN_IMAGE}  # requirements.txt forgot it\n"))
    server = ImageServer(layout, tmp_path / "model-repo", python=clean_venv, log_path=tmp_path / "server.log",
                         ready_timeout=60)
    with pytest.raises(RuntimeError, match="server exited with 1 before ready") as failed:
        server.start()
    assert f"ModuleNotFoundError: No module named '{NOT_IN_IMAGE}'" in str(failed.value)
    # The same layout in the project's venv starts past the import: the clean venv is what catches it.
    assert _run_in(layout, Path(sys.executable), "-c", "import rosetta.serving.__main__").returncode == 0


@pytest.fixture(scope="module")
def image_server(clean_venv, artifacts_dir, tmp_path_factory) -> Iterator[ImageServer]:
    layout = lay_out(tmp_path_factory.mktemp("srv"), artifacts=artifacts_dir)
    with ImageServer(layout, tmp_path_factory.mktemp("model-repo"), python=clean_venv,
                     log_path=tmp_path_factory.mktemp("logs") / "server.log") as server:
        yield server


def _onnx_entries(artifacts: Path) -> list[Entry]:
    """The onnx entries unversioned requests reach: each model's newest ok, non-retired version."""
    entries = [e for e in manifest.load(artifacts).latest() if e.format == "onnx" and e.ok]
    assert entries, "the manifest has no onnx artifact with status ok"
    return entries


async def _get_json(server: ImageServer, path: str) -> dict:
    client = RestClient(server.http_url, connections=1)
    try:
        answer = await client.get(path)
    finally:
        await client.close()
    assert answer.status == 200, answer.body[:300]
    return json.loads(answer.body)


def test_image_serves_every_onnx_model_with_its_manifest_spec(image_server, artifacts_dir):
    for entry in _onnx_entries(artifacts_dir):
        metadata = asyncio.run(_get_json(image_server, f"/v2/models/{entry.model_name}"))
        assert metadata["name"] == entry.model_name
        for side in ("inputs", "outputs"):
            # v2 metadata has no layout/kind fields; every field it does report must be the spec's.
            served, declared = metadata[side], entry.spec.to_json()[side]
            assert all({"name", "datatype", "shape"} <= t.keys() for t in served), served
            assert served == [{k: d.get(k) for k in t} for t, d in zip(served, declared)], (entry.model_name, side)
            assert len(served) == len(declared), (entry.model_name, side)


async def _predict(server: ImageServer, protocol: str, spec: ModelSpec, x: dict[str, np.ndarray]) -> dict:
    codec = V2Rest if protocol == "v2-rest" else TfRest
    client = RestClient(server.http_url, connections=1)
    try:
        answer = await client.post(codec.path(spec.name), codec.encode(x))
    finally:
        await client.close()
    assert answer.status == 200, answer.body[:300]
    return V2Rest.decode(answer.body) if codec is V2Rest else TfRest.decode(answer.body, spec)


@pytest.mark.parametrize("protocol", ["v2-rest", "tfserving-rest"])
def test_image_answers_equal_the_source_model(image_server, artifacts_dir, protocol):
    """The exporter's sample rows through the live image equal what the source framework computed for them."""
    for entry in _onnx_entries(artifacts_dir):
        spec = entry.spec
        with np.load(entry.version_file(artifacts_dir, SAMPLE_INPUTS)) as samples, \
                np.load(entry.version_file(artifacts_dir, SOURCE_OUTPUTS)) as source:
            x = {t.name: samples[t.name] for t in spec.inputs}
            rows = len(next(iter(x.values())))
            expected = {t.name: source[t.name][:rows] for t in spec.outputs}
        served = asyncio.run(_predict(image_server, protocol, spec.renamed(entry.model_name), x))
        for t in spec.outputs:
            got, want = served[t.name], expected[t.name]
            assert got.shape == want.shape, (entry.model_name, t.name, got.shape, want.shape)
            if t.dtype.kind == "f":
                diff = float(np.abs(got.astype(np.float64) - want).max())
                assert diff <= TOLERANCE, (entry.model_name, t.name, diff)
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{entry['model_name']} {t.name}")
