"""The manifest: typed entries keyed by (model, format, version), merged under a lock; release records (labels,
retired) with their validation; the schema check, the served set and the newest-version view readers use."""
import copy
import json
import multiprocessing
from pathlib import Path

import pytest

from rosetta.core import manifest
from rosetta.core.manifest import Entry, Manifest, ManifestError, Parity
from rosetta.core.spec import ModelSpec

SPEC = {"name": "x", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2], "kind": "probabilities"}]}


def _raw(model: str, fmt: str = "onnx", version: int = 1, status: str = "ok") -> dict:
    return {"model_name": model, "format": fmt, "version": version, "status": status, "lane": "torch",
            "path": f"{model}/{version}/{fmt}/model", "sha256": "ab" * 32, "spec": {**copy.deepcopy(SPEC), "name": model}}


def _entry(*args, **kwargs) -> Entry:
    return Entry.from_json(_raw(*args, **kwargs))


def _read(tmp_path) -> dict:
    return json.loads(manifest.path_of(tmp_path).read_text())


def test_write_merges_other_models_and_versions_and_replaces_the_same_key(tmp_path):
    manifest.write(tmp_path, [_entry("a", version=1), _entry("a", "tfjs", version=1), _entry("b")])
    manifest.write(tmp_path, [_entry("a", version=2), _entry("b", status="gate-failed")])
    data = _read(tmp_path)
    assert data["schema_version"] == 3
    assert [e.key for e in manifest.load(tmp_path).entries] == [("a", "onnx", 1), ("a", "onnx", 2),
                                                                ("a", "tfjs", 1), ("b", "onnx", 1)]
    assert data["artifacts"][-1]["status"] == "gate-failed"
    assert data["created"] and data["tool_versions"]["python"]


def test_entries_round_trip_typed_and_keep_fields_they_do_not_know():
    raw = {**_raw("a"), "parity": {"examples": 3, "max_abs_diff": 1e-7, "argmax_agreement": 1.0, "accuracy": None,
                                   "source_accuracy": None, "outputs": {}, "gate": {}, "passed": True,
                                   "failures": [], "split": "all"},
           "ops": {"FULLY_CONNECTED": 3}, "peak_rss_mb": 812.5}
    entry = Entry.from_json(raw)
    assert isinstance(entry.spec, ModelSpec) and isinstance(entry.parity, Parity) and entry.parity.passed
    assert entry.extra == {"peak_rss_mb": 812.5}
    assert entry.to_json() == raw


@pytest.mark.parametrize("change, message", [
    (lambda e: e.pop("spec"), r"artifacts\[0\]: missing or malformed field \(KeyError\('spec'\)\)"),
    (lambda e: e.update(version=0), "version must be a positive integer"),
    (lambda e: e.update(version=True), "version must be a positive integer"),
    (lambda e: e.update(status="great"), "status 'great' is not one of ok, gate-failed, failed"),
    (lambda e: e["spec"]["inputs"][0].update(datatype="FP8"), r"artifacts\[0\]: .*unknown datatype 'FP8'"),
    (lambda e: e.update(model_name="../x"), r"artifacts\[0\]: "),
])
def test_a_malformed_entry_is_one_line_naming_it(tmp_path, change, message):
    raw = _raw("a")
    change(raw)
    manifest.path_of(tmp_path).write_text(json.dumps({"schema_version": 3, "artifacts": [raw]}))
    with pytest.raises(ManifestError, match=message):
        manifest.load(tmp_path)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[]", "expected a JSON object, got list"),
    (json.dumps({"schema_version": 2, "artifacts": []}), "schema_version 2, expected 3; re-run `rosetta export`"),
    (json.dumps({"schema_version": 3, "artifacts": {}}), "'artifacts' must be a list"),
    (json.dumps({"schema_version": 3, "artifacts": [], "models": {"m": {"labels": {"stable": "x"}}}}),
     r"models\['m'\]: malformed labels or retired"),
])
def test_the_schema_check_is_one_line_naming_the_file(tmp_path, text, message):
    manifest.path_of(tmp_path).write_text(text)
    with pytest.raises(ManifestError, match=message) as raised:
        manifest.load(tmp_path)
    assert str(manifest.path_of(tmp_path)) in str(raised.value)


def test_a_missing_manifest_is_empty_or_an_error_when_required(tmp_path):
    assert manifest.load(tmp_path).entries == []
    with pytest.raises(ManifestError, match="manifest.json: missing; run `rosetta export` first"):
        manifest.load(tmp_path, missing_ok=False)


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
    manifest.path_of(tmp_path).write_text(json.dumps({"schema_version": 2, "artifacts": [_raw("old")]}))
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
    entries = [_raw("m", version=1), _raw("m", "tfjs", version=1), _raw("m", version=2),
               _raw("m", "tfjs", version=2, status="gate-failed"), _raw("m", version=3, status="failed")]
    return {"schema_version": 3, "artifacts": entries, "models": {"m": {"labels": {"stable": 1}, "retired": []}}}


def _parsed(raw: dict) -> Manifest:
    return Manifest.from_json(raw, "test")


def test_latest_picks_the_newest_ok_non_retired_version_per_format_else_the_newest_attempt():
    data = _versions_manifest()
    assert [(e.format, e.version, e.status) for e in _parsed(data).latest()] == [("onnx", 2, "ok"), ("tfjs", 1, "ok")]
    data["models"]["m"]["retired"] = [1, 2]
    assert [(e.format, e.version, e.status) for e in _parsed(data).latest()] == [
        ("onnx", 3, "failed"), ("tfjs", 2, "gate-failed")]


def test_served_versions_follow_format_status_and_retirement():
    data = _versions_manifest()
    assert _parsed(data).served_versions("m", "onnx") == [1, 2]
    assert _parsed(data).served_versions("m", "tfjs") == [1]
    data["models"]["m"]["retired"] = [1]
    assert _parsed(data).served_versions("m", "onnx") == [2]
    assert _parsed(data).served_versions("m", "savedmodel") == []


def test_served_set_keeps_labels_on_served_versions_only(tmp_path, caplog):
    data = _versions_manifest()
    data["models"]["m"] = {"labels": {"stable": 1, "canary": 2}, "retired": []}
    served = manifest.served(tmp_path, "tfjs", _parsed(data))
    assert [m.key for m in served.versions] == [("m", 1)] and served.labels == {"m": {"stable": 1}}
    assert served.versions[0].source == tmp_path / "m/1/tfjs/model"
    assert "label 'canary' points at version 2, which is not served as tfjs" in caplog.text
    with pytest.raises(ManifestError, match="no savedmodel artifact with status ok that is not retired"):
        manifest.served(tmp_path, "savedmodel", _parsed(data))


@pytest.fixture
def released(tmp_path):
    manifest.path_of(tmp_path).write_text(json.dumps(_versions_manifest()))
    return tmp_path


def test_release_moves_labels_retires_and_unretires(released):
    assert manifest.release(released, "m", canary=2).to_json() == {"labels": {"stable": 1, "canary": 2},
                                                                   "retired": []}
    assert manifest.release(released, "m", stable=2, canary="none", retire=[1]).to_json() == {
        "labels": {"stable": 2}, "retired": [1]}
    assert _read(released)["models"]["m"] == {"labels": {"stable": 2}, "retired": [1]}
    assert manifest.release(released, "m", unretire=[1], canary=1).labels == {"stable": 2, "canary": 1}
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
    before = manifest.path_of(released).read_text()
    with pytest.raises(manifest.ReleaseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        manifest.release(released, "m", **kwargs)
    assert manifest.path_of(released).read_text() == before


def test_release_of_an_unknown_model_names_the_known_ones(released, tmp_path):
    with pytest.raises(manifest.ReleaseError, match="nope: no ok version in .*; models there: m"):
        manifest.release(released, "nope", stable=1)
    with pytest.raises(manifest.ReleaseError, match="no ok version"):
        manifest.release(tmp_path / "empty", "m", stable=1)


def test_version_file_and_format_dir_follow_the_version_directories(tmp_path):
    e = _entry("m", "tfjs", version=4)
    assert e.version_file(tmp_path, "source_outputs.npz") == tmp_path / "m" / "4" / "source_outputs.npz"
    assert str(e.format_dir()) == "m/4/tfjs"
    assert e.artifact(tmp_path) == tmp_path / Path("m/4/tfjs/model")
