"""Each export publishes a new version directory: numbering, --version pins, refusal to overwrite before any work,
per-version validation data, and a failed export that leaves nothing blocking its retry."""
import json

import numpy as np
import pytest

from rosetta.core import manifest
from rosetta.core.digest import describe_files
from rosetta.core.examples import split_examples
from rosetta.core.version_dirs import VersionError
from rosetta.exporters.base import LazyConverter
from rosetta.exporters.pipeline import SAMPLE_INPUTS, SOURCE_OUTPUTS, export_model
from rosetta.sources import detect, infer_spec
from tests.byom import user_models


@pytest.fixture(scope="module")
def tiny():
    source = detect(user_models.torch_nchw_classifier(), "test")
    spec, examples = infer_spec(source, "tiny", user_models.torch_nchw_examples(40))
    return source, spec, split_examples(examples, None)


def _export(tiny, out, **kwargs):
    source, spec, examples = tiny
    entries = export_model(source, spec, ["onnx"], out, examples, log=lambda e: None, **kwargs)
    manifest.write(out, entries)
    return entries


def test_exports_publish_versions_one_after_another_and_the_manifest_keeps_both(tiny, tmp_path):
    (first,), (second,) = _export(tiny, tmp_path), _export(tiny, tmp_path)
    assert (first.version, first.path) == (1, "tiny/1/onnx/model.onnx")
    assert (second.version, second.path) == (2, "tiny/2/onnx/model.onnx")
    assert first.sha256 == second.sha256  # same model, same bytes: two versions side by side
    for v in (1, 2):
        assert sorted(p.name for p in (tmp_path / "tiny" / str(v)).iterdir()) == [
            "onnx", SAMPLE_INPUTS, SOURCE_OUTPUTS]
    data = json.loads((tmp_path / manifest.FILENAME).read_text())
    assert [(e["format"], e["version"]) for e in data["artifacts"]] == [("onnx", 1), ("onnx", 2)]
    assert data["models"]["tiny"] == {"labels": {"stable": 1, "canary": 2}, "retired": []}
    with np.load(second.version_file(tmp_path, SOURCE_OUTPUTS)) as outputs:
        assert outputs["output"].shape == (20, 5)  # 40 examples: half validate, half calibrate (fewer than 600)


def test_a_pinned_version_is_used_and_an_existing_one_refused_before_any_work(tiny, tmp_path, monkeypatch):
    (entry,) = _export(tiny, tmp_path, version_=5)
    assert entry.path == "tiny/5/onnx/model.onnx"
    source = tiny[0]
    monkeypatch.setattr(type(source), "predict", lambda *a, **k: pytest.fail("ran the model before refusing"))
    with pytest.raises(VersionError, match="tiny/5 exists: version 5 of tiny is published"):
        _export(tiny, tmp_path, version_=5)
    assert manifest.recorded_versions(tmp_path, "tiny") == [5]
    monkeypatch.undo()
    (entry,) = _export(tiny, tmp_path)  # the default continues above the pinned number
    assert entry.version == 6


def test_a_wholly_failed_export_publishes_nothing_and_can_be_retried_as_the_same_version(tiny, tmp_path,
                                                                                      monkeypatch):
    def crash(self, src, dst, ctx):
        raise RuntimeError("converter exploded")

    with monkeypatch.context() as patch:
        patch.setattr(LazyConverter, "__call__", crash)
        (failed,) = _export(tiny, tmp_path, version_=1)
    assert failed.status == "failed" and failed.path is None and "converter exploded" in failed.error
    assert list((tmp_path / "tiny").iterdir()) == []  # no version dir, no staging leftovers
    assert json.loads((tmp_path / manifest.FILENAME).read_text())["models"] == {}
    (retry,) = _export(tiny, tmp_path, version_=1)
    assert retry.status == "ok" and retry.path == "tiny/1/onnx/model.onnx"
    data = json.loads((tmp_path / manifest.FILENAME).read_text())
    assert [e["status"] for e in data["artifacts"]] == ["ok"]  # the retry replaced the failed record
    assert data["models"]["tiny"]["labels"] == {"stable": 1}


def test_a_default_version_taken_by_a_concurrent_export_moves_to_the_next_free_one(tiny, tmp_path, monkeypatch):
    """Two exports of one model started together both pick version 1; the one that publishes second gets 2
    (a pinned --version would fail instead: test_a_pinned_version_...)."""
    from rosetta.exporters import pipeline

    real_publish = pipeline._publish

    def racing_publish(staged, entries, *args, **kwargs):
        (tmp_path / "tiny" / "1" / "onnx").mkdir(parents=True)  # the other export published 1 meanwhile
        (tmp_path / "tiny" / "1" / "onnx" / "model.onnx").write_bytes(b"theirs")
        return real_publish(staged, entries, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_publish", racing_publish)
    (entry,) = _export(tiny, tmp_path)
    assert (entry.version, entry.path) == (2, "tiny/2/onnx/model.onnx")
    assert (tmp_path / "tiny" / "1" / "onnx" / "model.onnx").read_bytes() == b"theirs"
    assert describe_files(tmp_path / entry.path)["sha256"] == entry.sha256


def test_a_pinned_version_taken_by_a_concurrent_export_fails_and_leaves_theirs(tiny, tmp_path, monkeypatch):
    from rosetta.exporters import pipeline

    real_publish = pipeline._publish

    def racing_publish(staged, entries, *args, **kwargs):
        (tmp_path / "tiny" / "3").mkdir(parents=True)
        (tmp_path / "tiny" / "3" / "theirs").write_bytes(b"theirs")
        return real_publish(staged, entries, *args, **kwargs)

    monkeypatch.setattr(pipeline, "_publish", racing_publish)
    with pytest.raises(VersionError, match="tiny/3: published by someone else meanwhile"):
        _export(tiny, tmp_path, version_=3)
    assert [p.name for p in (tmp_path / "tiny").iterdir()] == ["3"]  # no staging dir left
    assert [p.name for p in (tmp_path / "tiny" / "3").iterdir()] == ["theirs"]


def test_the_python_api_publishes_versions_and_refuses_a_published_one(tmp_path):
    import rosetta

    model, examples = user_models.torch_nchw_classifier(), user_models.torch_nchw_examples(20)
    (first,) = rosetta.export(model, examples, name="api", formats=["onnx"], artifacts=tmp_path)
    (pinned,) = rosetta.export(model, examples, name="api", formats=["onnx"], artifacts=tmp_path, version=4)
    assert (first.version, pinned.version) == (1, 4)
    with pytest.raises(VersionError, match="api/4 exists"):
        rosetta.export(model, examples, name="api", formats=["onnx"], artifacts=tmp_path, version=4)
    data = json.loads((tmp_path / manifest.FILENAME).read_text())
    assert [e["version"] for e in data["artifacts"]] == [1, 4]
    assert data["models"]["api"]["labels"] == {"stable": 1, "canary": 4}
