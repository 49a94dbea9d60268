"""Manifest schema 3: entries keyed by (model, format, version), merged under a lock; release records (labels,
retired) with their validation; the newest-version view readers use."""
import json
import multiprocessing

import pytest

from exporters import manifest


def _entry(model: str, fmt: str = "onnx", version: int = 1, status: str = "ok") -> dict:
    return {"model_name": model, "format": fmt, "version": version, "status": status, "lane": "torch",
            "path": f"{model}/{version}/{fmt}/model", "spec": {"name": model}}


def _read(tmp_path) -> dict:
    return json.loads((tmp_path / manifest.MANIFEST).read_text())


def test_write_merges_other_models_and_versions_and_replaces_the_same_key(tmp_path):
    manifest.write(tmp_path, [_entry("a", version=1), _entry("a", "tfjs", version=1), _entry("b")])
    manifest.write(tmp_path, [_entry("a", version=2), {**_entry("b"), "status": "gate-failed"}])
    data = _read(tmp_path)
    assert data["schema_version"] == 3
    assert [manifest.key(e) for e in data["artifacts"]] == [("a", "onnx", 1), ("a", "onnx", 2), ("a", "tfjs", 1),
                                                           ("b", "onnx", 1)]
    assert data["artifacts"][-1]["status"] == "gate-failed"
    assert data["created"] and data["tool_versions"]["python"]


def test_first_ok_version_is_stable_a_later_one_canary(tmp_path):
    manifest.write(tmp_path, [_entry("a", version=1, status="failed")])
    assert _read(tmp_path)["models"] == {}  # nothing ok: nothing to label
    manifest.write(tmp_path, [_entry("a", version=1)])
    assert _read(tmp_path)["models"] == {"a": {"labels": {"stable": 1}, "retired": []}}
    manifest.write(tmp_path, [_entry("a", version=2)])
    manifest.write(tmp_path, [_entry("a", "tfjs", version=3, status="gate-failed")])  # not ok: no label
    assert _read(tmp_path)["models"]["a"]["labels"] == {"stable": 1, "canary": 2}
    manifest.write(tmp_path, [_entry("a", version=4)])
    manifest.write(tmp_path, [_entry("a", version=3)])  # a pinned, older version does not move the labels
    assert _read(tmp_path)["models"]["a"]["labels"] == {"stable": 1, "canary": 4}


def test_an_older_schema_is_replaced_not_merged(tmp_path):
    (tmp_path / manifest.MANIFEST).write_text(json.dumps({"schema_version": 2, "artifacts": [_entry("old")]}))
    assert manifest.recorded_versions(tmp_path, "old") == []
    manifest.write(tmp_path, [_entry("new")])
    assert [e["model_name"] for e in _read(tmp_path)["artifacts"]] == ["new"]


def _writer(args):
    directory, model, n = args
    for v in range(1, n + 1):
        manifest.write(directory, [_entry(model, version=v)])


def test_concurrent_writers_lose_nothing(tmp_path):
    """Separate processes (exports of different models) read-modify-write the same manifest: the lock keeps
    every entry."""
    with multiprocessing.get_context("fork").Pool(3) as pool:
        pool.map(_writer, [(tmp_path, f"m{i}", 8) for i in range(3)])
    data = _read(tmp_path)
    assert len(data["artifacts"]) == 24
    assert data["models"] == {f"m{i}": {"labels": {"stable": 1, "canary": 8}, "retired": []} for i in range(3)}


def _versions_manifest() -> dict:
    entries = [_entry("m", version=1), _entry("m", "tfjs", version=1), _entry("m", version=2),
               _entry("m", "tfjs", version=2, status="gate-failed"), _entry("m", version=3, status="failed")]
    return {"schema_version": 3, "artifacts": entries, "models": {"m": {"labels": {"stable": 1}, "retired": []}}}


def test_latest_picks_the_newest_ok_non_retired_version_per_format_else_the_newest_attempt():
    data = _versions_manifest()
    assert [(e["format"], e["version"], e["status"]) for e in manifest.latest(data)] == [
        ("onnx", 2, "ok"), ("tfjs", 1, "ok")]
    data["models"]["m"]["retired"] = [1, 2]
    assert [(e["format"], e["version"], e["status"]) for e in manifest.latest(data)] == [
        ("onnx", 3, "failed"), ("tfjs", 2, "gate-failed")]


def test_served_versions_follow_format_status_and_retirement():
    data = _versions_manifest()
    assert manifest.served_versions(data, "m", "onnx") == [1, 2]
    assert manifest.served_versions(data, "m", "tfjs") == [1]
    data["models"]["m"]["retired"] = [1]
    assert manifest.served_versions(data, "m", "onnx") == [2]
    assert manifest.served_versions(data, "m", "savedmodel") == []


@pytest.fixture
def released(tmp_path):
    (tmp_path / manifest.MANIFEST).write_text(json.dumps(_versions_manifest()))
    return tmp_path


def test_release_moves_labels_retires_and_unretires(released):
    assert manifest.release(released, "m", canary=2) == {"labels": {"stable": 1, "canary": 2}, "retired": []}
    assert manifest.release(released, "m", stable=2, canary="none", retire=[1]) == {
        "labels": {"stable": 2}, "retired": [1]}
    assert _read(released)["models"]["m"] == {"labels": {"stable": 2}, "retired": [1]}
    assert manifest.release(released, "m", unretire=[1], canary=1)["labels"] == {"stable": 2, "canary": 1}
    assert len(_read(released)["artifacts"]) == 5  # entries untouched


@pytest.mark.parametrize("kwargs, message", [
    ({"stable": 3}, "stable -> version 3, which has no ok artifact; ok versions: [1, 2]"),
    ({"canary": 9}, "canary -> version 9, which has no ok artifact"),
    ({"retire": [1]}, "version 1 is labelled stable and cannot be retired; move the label first"),
    ({"canary": 2, "retire": [2]}, "version 2 is labelled canary and cannot be retired"),
    ({"canary": 1}, "stable and canary are both version 1; use --canary none"),
    ({"retire": [7]}, "no version 7 to retire; versions: [1, 2]"),
    ({"unretire": [2]}, "version 2 is not retired"),
])
def test_release_refuses_invalid_requests_and_writes_nothing(released, kwargs, message):
    before = (released / manifest.MANIFEST).read_text()
    with pytest.raises(manifest.ReleaseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        manifest.release(released, "m", **kwargs)
    assert (released / manifest.MANIFEST).read_text() == before


def test_release_of_an_unknown_model_names_the_known_ones(released, tmp_path):
    with pytest.raises(manifest.ReleaseError, match="nope: no ok version in .*; models there: m"):
        manifest.release(released, "nope", stable=1)
    with pytest.raises(manifest.ReleaseError, match="no ok version"):
        manifest.release(tmp_path / "empty", "m", stable=1)


def test_version_file_and_format_dir_follow_the_layout(tmp_path):
    e = _entry("m", "tfjs", version=4)
    assert manifest.version_file(tmp_path, e, "source_outputs.npz") == tmp_path / "m" / "4" / "source_outputs.npz"
    assert str(manifest.format_dir(e)) == "m/4/tfjs"
