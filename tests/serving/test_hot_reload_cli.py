"""End to end with the real CLI: with `rosetta serve` running on an artifacts directory,
`rosetta export --lane torch --format onnx --version 2` into that directory makes version 2 servable within
30 s, with no other step. Trains the built-in MLP on a slice (slow)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from benchmarks.serving.process import ROOT, ServerProcess
from rosetta import contract

MODEL = contract.served_name("mnist-mlp", "torch")
WITHIN_S = 30.0


def _rosetta(out: Path, *args: str, timeout: float = 900) -> str:
    proc = subprocess.run([sys.executable, "-m", "rosetta.cli", "--out", str(out), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, f"rosetta {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
def test_export_version_2_into_a_served_directory_is_served_within_30_s(tmp_path):
    out = tmp_path / "artifacts"
    _rosetta(out, "train", "--model", "mnist-mlp", "--lane", "torch", "--epochs", "1", "--train-limit", "5000")
    _rosetta(out, "export", "--model", "mnist-mlp", "--lane", "torch", "--format", "onnx", "--version", "1")
    with ServerProcess(out, entry=("-m", "rosetta.cli", "serve"), log_path=tmp_path / "server.log") as server:
        with httpx.Client(base_url=server.http_url, timeout=10) as http:
            assert http.get(f"/v2/models/{MODEL}").json()["versions"] == ["1"]
            _rosetta(out, "export", "--model", "mnist-mlp", "--lane", "torch", "--format", "onnx", "--version", "2")
            exported = time.monotonic()
            while http.get(f"/v2/models/{MODEL}/versions/2/ready").status_code != 200:
                assert time.monotonic() - exported < WITHIN_S, f"v2 not served {WITHIN_S} s after the export:\n" \
                                                               f"{server.log_tail()}"
                time.sleep(0.2)
            took = time.monotonic() - exported
            assert http.get(f"/v2/models/{MODEL}").json()["versions"] == ["1", "2"]
            status = http.get(f"/v1/models/{MODEL}/labels/canary").json()["model_version_status"]
            assert [s["version"] for s in status] == ["2"]
            assert http.get(f"/v1/models/{MODEL}/labels/stable").json()["model_version_status"][0]["version"] == "1"
            assert server.is_ready()
    print(f"\nversion 2 servable {took:.1f} s after `rosetta export --version 2` returned (poll 2 s)")
