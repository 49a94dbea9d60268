"""Retention: a model keeps its labelled versions and its newest N (files and manifest entries of the others go);
staging dirs of killed exports are removed, one a live export holds is not."""
import copy

from rosetta.core import manifest, retention
from rosetta.core.manifest import Entry
from rosetta.core.version_dirs import STAGING_LOCK, staged_version, staging_dirs, version_dir

SPEC = {"name": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2], "kind": "probabilities"}]}


def _publish(artifacts, model: str, version: int) -> None:
    (version_dir(artifacts, model, version) / "onnx").mkdir(parents=True)
    (version_dir(artifacts, model, version) / "onnx" / "model.onnx").write_bytes(b"x")
    manifest.write(artifacts, [Entry.from_json({
        "model_name": model, "format": "onnx", "version": version, "status": "ok", "lane": "torch",
        "path": f"{model}/{version}/onnx/model.onnx", "sha256": "ab" * 32, "spec": {**copy.deepcopy(SPEC), "name": model}})])


def test_keeps_labelled_and_newest_versions_and_removes_the_rest(tmp_path):
    for v in range(1, 7):
        _publish(tmp_path, "m", v)
    _publish(tmp_path, "other", 1)
    manifest.release(tmp_path, "m", stable=2, canary=3)  # labels on old versions: never removed
    pruned = retention.prune(tmp_path, keep=2)
    assert pruned.versions == {"m": [1, 4]}
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["2", "3", "5", "6"]
    assert manifest.load(tmp_path).versions("m") == [2, 3, 5, 6]
    assert manifest.load(tmp_path).versions("other") == [1]
    assert not retention.prune(tmp_path, keep=2)  # applied again: nothing left to remove


def test_removes_a_killed_exports_staging_dir_but_not_a_live_one(tmp_path):
    _publish(tmp_path, "m", 1)
    with staged_version(tmp_path, "m", 2) as live:
        dead = tmp_path / "m" / ".3.killed.staging"
        (dead / "version").mkdir(parents=True)
        (dead / STAGING_LOCK).touch()  # its writer is gone: nobody holds the lock
        pruned = retention.prune(tmp_path)
        assert pruned.staging == [dead] and not dead.exists()
        assert live.dir.is_dir() and staging_dirs(tmp_path, "m") == [live.dir.parent]
    assert staging_dirs(tmp_path, "m") == []
