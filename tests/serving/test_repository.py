"""Manifest v2 reading, the versioned repository, hash and spec checks, readiness (no server process except
the exit-code test)."""
import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kserve.model_repository import ModelRepository

from rosetta.core.manifest import ManifestError, ServedVersion, served
from rosetta.serving.runtime.model import OnnxModel
from rosetta.serving.runtime.repository import IntegrityError, build_repository, model_path
from rosetta.serving.runtime.versions import VersionedModel
from rosetta.serving.server.config import ServeConfig
from rosetta.serving.server.dataplane import ServingDataPlane
from tests.serving.tiny_models import CLASSIFIER, MULTI_IO

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def artifacts_copy(tiny_artifacts: Path, tmp_path: Path) -> Path:
    """A private copy the test may corrupt."""
    return Path(shutil.copytree(tiny_artifacts, tmp_path / "artifacts"))


def _edit_manifest(artifacts: Path, edit) -> None:
    path = artifacts / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def test_every_ok_onnx_entry_is_served_with_its_spec(tiny_artifacts):
    served = {m.name: m for m in _served(tiny_artifacts)}
    assert sorted(served) == sorted([CLASSIFIER.name, MULTI_IO.name])  # the failed entry is skipped
    assert served[CLASSIFIER.name].spec == CLASSIFIER and served[MULTI_IO.name].spec == MULTI_IO
    assert served[MULTI_IO.name].source == tiny_artifacts / MULTI_IO.name / "onnx" / "model.onnx"


def test_repository_layout_is_model_version_file(tiny_artifacts, tmp_path):
    served = _served(tiny_artifacts)
    paths = build_repository(served, tmp_path / "repo")
    for m in served:
        assert paths[m.key] == tmp_path / "repo" / m.name / str(m.version) / "model.onnx"
        assert paths[m.key].read_bytes() == m.source.read_bytes()


def test_tampered_artifact_is_refused_naming_model_and_hashes(artifacts_copy, tmp_path):
    target = artifacts_copy / MULTI_IO.name / "onnx" / "model.onnx"
    target.write_bytes(target.read_bytes()[:-1] + b"\x00")
    with pytest.raises(IntegrityError, match=rf"{MULTI_IO.name} v1: refusing .*SHA-256 [0-9a-f]{{64}} does not match"):
        build_repository(_served(artifacts_copy), tmp_path / "repo")


def test_file_swapped_in_repository_after_build_is_refused_at_load(tiny_artifacts, tmp_path):
    served = {m.name: m for m in _served(tiny_artifacts)}
    paths = {m.name: p for m, p in zip(served.values(), build_repository(list(served.values()), tmp_path / "repo").values())}
    shutil.copy(paths[CLASSIFIER.name], paths[MULTI_IO.name])  # a valid model, but not the one recorded
    with pytest.raises(IntegrityError, match=MULTI_IO.name):
        OnnxModel(served[MULTI_IO.name], paths[MULTI_IO.name], ServeConfig()).load()


@pytest.mark.parametrize("change, message", [
    (lambda s: s["inputs"][1].update(datatype="INT32"), r"input 'token_ids' is tensor\(int64\) in the file, INT32"),
    (lambda s: s["outputs"][0].update(shape=[-1, 5]), r"output 'pooled' has shape .* \[-1, 5\] in the spec"),
    (lambda s: s["inputs"][0].update(name="seq"), r"inputs \['sequence', 'token_ids'\] in the file, \['seq'"),
    (lambda s: s["outputs"].pop(), r"outputs \['doubled_ids', 'pooled'\] in the file, \['pooled'\] in the spec"),
])
def test_a_spec_the_file_does_not_match_is_refused_at_load(artifacts_copy, tmp_path, change, message):
    _edit_manifest(artifacts_copy, lambda m: change(next(e for e in m["artifacts"]
                                                         if e["model_name"] == MULTI_IO.name)["spec"]))
    served = {m.name: m for m in _served(artifacts_copy)}
    paths = build_repository(list(served.values()), tmp_path / "repo")
    with pytest.raises(IntegrityError, match=message):
        OnnxModel(served[MULTI_IO.name], paths[served[MULTI_IO.name].key], ServeConfig()).load()


def test_manifest_errors_are_one_clear_line(tmp_path, artifacts_copy):
    with pytest.raises(ManifestError, match="manifest.json: missing"):
        _served(tmp_path)
    failed = {**json.loads((artifacts_copy / "manifest.json").read_text())["artifacts"][0], "status": "failed"}
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 3, "artifacts": [failed]}))
    with pytest.raises(ManifestError, match="no onnx artifact with status ok"):
        _served(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 1, "artifacts": []}))
    with pytest.raises(ManifestError, match="schema_version 1, expected 3"):
        _served(tmp_path)
    _edit_manifest(artifacts_copy, lambda m: m["artifacts"][0]["spec"]["inputs"][0].update(datatype="FP8"))
    with pytest.raises(ManifestError, match=r"artifacts\[0\]: .*unknown datatype 'FP8'"):
        _served(artifacts_copy)
    _edit_manifest(artifacts_copy, lambda m: m["artifacts"][0].pop("spec"))
    with pytest.raises(ManifestError, match=r"artifacts\[0\]: missing or malformed field \(KeyError\('spec'\)\)"):
        _served(artifacts_copy)


def test_server_with_no_loadable_model_exits_2_with_message(artifacts_copy, tmp_path):
    """Serving what is healthy needs something healthy: with every model tampered with, nothing is served."""
    (artifacts_copy / CLASSIFIER.name / "onnx" / "model.onnx").write_bytes(b"not the model")
    (artifacts_copy / MULTI_IO.name / "onnx" / "model.onnx").write_bytes(b"not the model either")
    proc = subprocess.run([sys.executable, "-m", "rosetta.serving", "--artifacts", str(artifacts_copy),
                           "--repository", str(tmp_path / "repo"), "--http-port", "1", "--grpc-port", "2"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert f"rosetta serve: error: {CLASSIFIER.name} v1: refusing" in proc.stderr and "does not match" in proc.stderr


def test_ready_only_when_every_manifest_model_is_loaded(tiny_artifacts, tmp_path):
    served = _served(tiny_artifacts)
    paths = build_repository(served, tmp_path / "repo")
    registry = ModelRepository()
    dataplane = ServingDataPlane(registry, [m.name for m in served])
    models = [OnnxModel(m, paths[m.key], ServeConfig()) for m in served]
    for model in models[:-1]:
        model.load()
        registry.update(VersionedModel(model.name, {model.version: model}, {}))
    assert asyncio.run(dataplane.ready()) is False  # one model missing
    last = VersionedModel(models[-1].name, {}, {})
    registry.update(last)
    assert asyncio.run(dataplane.ready()) is False  # registered but no version loaded
    models[-1].load()
    last.swap({models[-1].version: models[-1]}, {})
    assert asyncio.run(dataplane.ready()) is True
    assert model_path(tmp_path / "repo", served[0]).is_file()


def _served(artifacts) -> list[ServedVersion]:
    return list(served(artifacts, "onnx").versions)
