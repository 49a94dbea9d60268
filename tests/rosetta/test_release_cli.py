"""`rosetta release` edits labels/retired with clear errors; `rosetta export --version N` refuses a published
version with exit 2 before loading any data or model."""
import json
import subprocess
import sys

import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rosetta.cli", *args], capture_output=True, text=True, timeout=120)


def _entry(version: int, status: str = "ok") -> dict:
    return {"model_name": "m", "format": "onnx", "version": version, "status": status, "lane": "torch",
            "path": f"m/{version}/onnx/model.onnx", "sha256": "0" * 64,
            "spec": {"name": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}],
                     "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]}}


@pytest.fixture
def artifacts(tmp_path):
    data = {"schema_version": 3, "artifacts": [_entry(1), _entry(2), _entry(3, "gate-failed")],
            "models": {"m": {"labels": {"stable": 1, "canary": 2}, "retired": []}}}
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    return tmp_path


def _record(artifacts) -> dict:
    return json.loads((artifacts / "manifest.json").read_text())["models"]["m"]


def test_release_promotes_the_canary_and_retires_the_old_stable(artifacts):
    done = _run("--out", str(artifacts), "release", "m", "--stable", "2", "--canary", "none", "--retire", "1")
    assert done.returncode == 0, done.stderr
    assert "m: stable -> 2; retired: 1" in done.stdout
    assert _record(artifacts) == {"labels": {"stable": 2}, "retired": [1]}


@pytest.mark.parametrize("args, message", [
    (["--stable", "3"], "stable -> version 3, which has no ok artifact; ok versions: [1, 2]"),
    (["--retire", "2"], "version 2 is labelled canary and cannot be retired"),
    (["--canary", "1"], "stable and canary are both version 1"),
    ([], "nothing to do: give --stable N"),
])
def test_release_errors_exit_2_and_change_nothing(artifacts, args, message):
    done = _run("release", "m", "--artifacts", str(artifacts), *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert _record(artifacts) == {"labels": {"stable": 1, "canary": 2}, "retired": []}


def test_release_argument_errors(artifacts):
    for args, message in ((["--canary", "latest"], "a version) or none, got latest"), (["--stable", "0"], "positive integer")):
        done = _run("release", "m", "--artifacts", str(artifacts), *args)
        assert done.returncode == 2 and message in done.stderr, done.stderr


def test_export_refuses_a_published_version_before_loading_anything(tmp_path):
    (tmp_path / "mnist-mlp-torch" / "1").mkdir(parents=True)
    (tmp_path / "mine" / "3").mkdir(parents=True)
    # The data dir and the model source do not exist: reaching them would fail with another message.
    builtin = _run("--out", str(tmp_path), "--data-dir", str(tmp_path / "no-data"), "export", "--model", "mnist-mlp",
                   "--lane", "torch", "--format", "onnx", "--version", "1")
    user = _run("export", "--model", "no_such_pkg:factory", "--example-inputs", str(tmp_path / "x.npy"),
                "--name", "mine", "--version", "3", "--artifacts", str(tmp_path))
    for done, path in ((builtin, "mnist-mlp-torch/1"), (user, "mine/3")):
        assert done.returncode == 2, done.stderr
        assert f"{path} exists: version {path[-1]} of {path.split('/')[0]} is published" in done.stderr
