"""The coverage grid written from a hand-made manifest v3."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from rosetta.core.manifest import Entry, ManifestError
from rosetta.zoo.coverage import CoverageError, cells, read_manifest, write_coverage

SPEC = {"name": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2], "kind": "probabilities"}]}


def _raw(model: str, fmt: str, status: str, diff: float | None = None, **extra) -> dict:
    entry = {"model_name": model, "lane": "torch", "format": fmt, "version": 1, "status": status, "spec": SPEC,
             "path": f"{model}/1/{fmt}/model", "converter": {"path": f"torch -> {fmt}"}}
    if diff is not None:
        entry["parity"] = {"examples": 10, "max_abs_diff": diff, "argmax_agreement": 1.0, "passed": status == "ok",
                           "failures": extra.pop("failures", [])}
    return {**entry, **extra}


def _entry(*args, **kwargs) -> Entry:
    return Entry.from_json(_raw(*args, **kwargs))


ENTRIES = [
    _raw("conv", "onnx", "ok", 3e-6),
    _raw("conv", "tflite-int8", "gate-failed", 0.4, failures=["argmax_agreement 0.81 (needs >= 0.99)"]),
    _raw("attn", "onnx", "ok", 2e-6),
    _raw("attn", "tfjs", "failed", error="Error: Tensorflow Op is not supported: Erf | kernel missing"),
]


def _manifest(tmp_path: Path, entries: list[dict], version: int = 3) -> Path:
    (tmp_path / "manifest.json").write_text(json.dumps({"schema_version": version, "created": "now",
                                                        "artifacts": entries}))
    return tmp_path


def test_grid_files_report_every_cell(tmp_path: Path) -> None:
    entries = read_manifest(_manifest(tmp_path, ENTRIES))
    paths = write_coverage(tmp_path, entries, order=["attn", "conv"], crashed={"jax-net": "exit 1: boom"})
    md = paths["md"].read_text()
    assert "| model | tflite-int8 | tfjs | onnx |" in md  # canonical format order, only formats present
    assert "| attn | - | failed | ok 2e-06 |" in md  # order given; '-' where the graph does not reach
    assert "| conv | gate-failed 0.4 | - | ok 3e-06 |" in md
    assert "argmax_agreement 0.81 (needs >= 0.99)" in md
    assert "Erf \\| kernel missing" in md  # a '|' in a reason must not break the table
    assert "**jax-net**: exit 1: boom" in md
    report = json.loads(paths["json"].read_text())
    assert report["summary"] == {"cells": 4, "ok": 2, "gate-failed": 1, "failed": 1, "models": 2,
                                 "crashed_models": {"jax-net": "exit 1: boom"}}
    assert report["models"] == ["attn", "conv"]
    failed = next(c for c in report["cells"] if c["status"] == "failed")
    assert failed["format"] == "tfjs" and failed["max_abs_diff"] is None and "Erf" in failed["reason"]
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["png"].stat().st_size > 5000


def test_a_later_entry_for_the_same_cell_wins() -> None:
    grid = cells([_entry("m", "onnx", "failed", error="first run"), _entry("m", "onnx", "ok", 1e-7)])
    assert [(c.status, c.max_abs_diff) for c in grid] == [("ok", 1e-7)]


def test_the_newest_version_of_a_cell_wins_whatever_the_order() -> None:
    """A second `make zoo` run publishes version 2: the grid shows that run's result, even a worse one."""
    grid = cells([_entry("m", "onnx", "failed", version=2, error="second run"), _entry("m", "onnx", "ok", 1e-7)])
    assert [(c.status, c.reason) for c in grid] == [("failed", "second run")]


def test_unreadable_manifests_say_why(tmp_path: Path) -> None:
    with pytest.raises(CoverageError, match="schema_version 1, expected 3"):
        read_manifest(_manifest(tmp_path, ENTRIES, version=1))
    with pytest.raises(CoverageError, match="manifest.json: missing"):
        read_manifest(tmp_path / "missing")
    with pytest.raises(ManifestError, match="status 'maybe' is not one of ok, gate-failed, failed"):
        _entry("m", "onnx", "maybe")
