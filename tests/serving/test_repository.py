"""Manifest reading, the versioned repository, hash checks and readiness (no server process)."""
import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kserve.model_repository import ModelRepository

from serving.config import ServeConfig
from serving.dataplane import ServingDataPlane
from serving.manifest import ManifestError, load_onnx_specs
from serving.model import OnnxModel
from serving.repository import IntegrityError, build_repository, model_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def artifacts_copy(artifacts_dir: Path, tmp_path: Path) -> Path:
    """A private copy the test may corrupt; only the manifest and the onnx files."""
    dest = tmp_path / "artifacts"
    manifest = json.loads((artifacts_dir / "manifest.json").read_text())
    for entry in manifest["artifacts"]:
        if entry["format"] == "onnx":
            (dest / entry["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(artifacts_dir / entry["path"], dest / entry["path"])
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def test_one_spec_per_lane_with_manifest_signature(artifacts_dir):
    specs = load_onnx_specs(artifacts_dir)
    assert sorted(s.name for s in specs) == ["mnist-jax", "mnist-keras", "mnist-torch"]
    for spec in specs:
        assert spec.input.name == "images" and spec.input.v2_shape == [-1, 28, 28]
        assert spec.output.name == "probabilities" and spec.output.v2_datatype == "FP32"


def test_repository_layout_is_model_version_file(artifacts_dir, tmp_path):
    specs = load_onnx_specs(artifacts_dir)
    paths = build_repository(specs, tmp_path / "repo")
    for spec in specs:
        assert paths[spec.name] == tmp_path / "repo" / spec.name / str(spec.version) / "model.onnx"
        assert paths[spec.name].read_bytes() == spec.source.read_bytes()


def test_tampered_artifact_is_refused_naming_model_and_hashes(artifacts_copy, tmp_path):
    target = artifacts_copy / "torch" / "onnx" / "model.onnx"
    target.write_bytes(target.read_bytes()[:-1] + b"\x00")
    with pytest.raises(IntegrityError, match=r"mnist-torch v1: refusing .*SHA-256 [0-9a-f]{64} does not match"):
        build_repository(load_onnx_specs(artifacts_copy), tmp_path / "repo")


def test_file_swapped_in_repository_after_build_is_refused_at_load(artifacts_dir, tmp_path):
    specs = {s.name: s for s in load_onnx_specs(artifacts_dir)}
    paths = build_repository(list(specs.values()), tmp_path / "repo")
    shutil.copy(paths["mnist-keras"], paths["mnist-torch"])  # a valid model, but not the one recorded
    with pytest.raises(IntegrityError, match="mnist-torch"):
        OnnxModel(specs["mnist-torch"], paths["mnist-torch"], ServeConfig()).load()


def test_manifest_errors_are_one_clear_line(tmp_path):
    with pytest.raises(ManifestError, match="manifest.json: missing"):
        load_onnx_specs(tmp_path)
    failed = {"artifacts": [{"format": "onnx", "status": "failed", "model_name": "x"}]}
    (tmp_path / "manifest.json").write_text(json.dumps(failed))
    with pytest.raises(ManifestError, match="no onnx artifact with status ok"):
        load_onnx_specs(tmp_path)


def test_server_with_tampered_model_exits_2_with_message(artifacts_copy, tmp_path):
    target = artifacts_copy / "jax" / "onnx" / "model.onnx"
    target.write_bytes(b"not the model")
    proc = subprocess.run([sys.executable, "-m", "serving", "--artifacts", str(artifacts_copy),
                           "--repository", str(tmp_path / "repo"), "--http-port", "1", "--grpc-port", "2"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "rosetta serve: error: mnist-jax v1: refusing" in proc.stderr and "does not match" in proc.stderr


def test_ready_only_when_every_manifest_model_is_loaded(artifacts_dir, tmp_path):
    specs = load_onnx_specs(artifacts_dir)
    paths = build_repository(specs, tmp_path / "repo")
    registry = ModelRepository()
    dataplane = ServingDataPlane(registry, [s.name for s in specs])
    models = [OnnxModel(s, paths[s.name], ServeConfig()) for s in specs]
    for model in models[:-1]:
        model.load()
        registry.update(model)
    assert asyncio.run(dataplane.ready()) is False  # one model missing
    registry.update(models[-1])
    assert asyncio.run(dataplane.ready()) is False  # registered but not loaded
    models[-1].load()
    assert asyncio.run(dataplane.ready()) is True
    assert model_path(tmp_path / "repo", specs[0]).is_file()
