"""The zoo driver against a stand-in for `rosetta export` that writes manifest entries the way the exporter will."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rosetta.zoo import run
from rosetta.zoo.catalog import by_name

CONV, ATTN = by_name("zoo-convnet-torch"), by_name("zoo-transformer-torch")


def test_inputs_npz_keeps_names_and_order(tmp_path: Path) -> None:
    model = by_name("zoo-two-input-torch")
    with np.load(run.write_inputs(model, tmp_path)) as npz:
        assert list(npz.files) == ["images", "features"]
        np.testing.assert_array_equal(npz["images"], model.example_inputs()["images"])


def test_export_command_is_the_documented_cli(tmp_path: Path) -> None:
    command = run.export_command(CONV, tmp_path / "x.npz", tmp_path)
    assert command[1:] == ["-m", "rosetta.cli", "export", "--model", "rosetta.zoo.torch_models:conv_net",
                           "--example-inputs", str(tmp_path / "x.npz"), "--name", "zoo-convnet-torch",
                           "--artifacts", str(tmp_path)]
    resnet = by_name("zoo-resnet-jax")
    assert run.export_command(resnet, tmp_path / "x.npz", tmp_path)[-2:] == ["--atol", repr(resnet.atol)]


def test_entries_survive_a_manifest_rewritten_per_run_and_crashes_are_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This stand-in exporter rewrites the manifest on every run (the less convenient of the two behaviours)."""
    def fake_export(command, **kwargs):
        name = command[command.index("--name") + 1]
        assert Path(command[command.index("--example-inputs") + 1]).is_file()
        if name == ATTN.name:
            return subprocess.CompletedProcess(command, 2, "", "Traceback ...\nValueError: no way to export")
        spec = {"name": name, "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
                "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]}
        entries = [{"model_name": name, "format": "onnx", "version": 1, "status": "ok", "spec": spec,
                    "parity": {"examples": 3, "max_abs_diff": 1e-6, "passed": True}}]
        (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": 3, "artifacts": entries}))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(run.subprocess, "run", fake_export)
    entries, crashed, skipped = run.run_zoo([CONV, ATTN], tmp_path, log=lambda _: None)
    assert skipped == {}
    assert [(e.model_name, e.format) for e in entries] == [(CONV.name, "onnx")]
    assert list(crashed) == [ATTN.name] and "ValueError: no way to export" in crashed[ATTN.name]
