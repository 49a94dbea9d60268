"""The real pipeline (trained lanes, 17 exports) checked from the outside: manifest, files, runtimes."""
import json

import numpy as np
import pytest

from exporters.manifest import describe_files
from exporters.pipeline import SOURCE_PROBABILITIES
from exporters.runtimes import run_tfjs
from rosetta import contract

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def manifest(artifacts_dir):
    return json.loads((artifacts_dir / "manifest.json").read_text())


def test_every_lane_trains_to_98_percent(artifacts_dir):
    for name in contract.LANES:
        metrics = json.loads((artifacts_dir / name / "metrics.json").read_text())
        assert metrics["test_accuracy"] >= 0.98, (name, metrics["test_accuracy"])
        assert metrics["epochs"] == contract.EPOCHS and metrics["versions"]["numpy"]


def test_all_17_cells_exported_and_passed_their_gates(manifest):
    cells = {(e["lane"], e["format"]): e for e in manifest["artifacts"]}
    assert len(cells) == 17 and manifest["schema_version"] == 1
    failed = {k: e.get("error") or e["parity"]["failures"] for k, e in cells.items() if e["status"] != "ok"}
    assert not failed
    for e in cells.values():
        assert e["parity"]["images"] == 10_000 and e["parity"]["passed"]
        assert e["runtime"]["version"] != "absent" and e["converter"]["tools"]
        assert {"bytes", "sha256", "signature", "export_seconds", "path"} <= e.keys()


def test_manifest_hashes_match_the_files_on_disk(manifest, artifacts_dir):
    for e in manifest["artifacts"]:
        artifact = artifacts_dir / e["path"]
        described = describe_files(artifact if artifact.is_file() and "files" not in e
                                   else artifacts_dir / e["lane"] / e["format"])
        assert (described["sha256"], described["bytes"]) == (e["sha256"], e["bytes"]), e["path"]


def test_int8_signature_records_quantization(manifest):
    for e in manifest["artifacts"]:
        if e["format"] == "tflite-int8":
            (inp,), (out,) = e["signature"]["inputs"], e["signature"]["outputs"]
            assert inp["dtype"] == out["dtype"] == "int8"
            assert inp["quantization"]["scale"] > 0 and out["quantization"]["scale"] > 0


@pytest.mark.parametrize("lane", contract.LANES)
def test_tfjs_graph_model_in_node_matches_source_on_the_cpu_backend(artifacts_dir, test_split, lane):
    """The pipeline validated on TF.js' wasm backend; re-run on the pure-JS one, 2,000 test images."""
    source = np.load(artifacts_dir / lane / SOURCE_PROBABILITIES)[:2000]
    probs = run_tfjs(artifacts_dir / lane / "tfjs" / "model.json", test_split.images[:2000], backend="cpu")
    assert np.abs(probs - source).max() <= 1e-5
    assert (probs.argmax(1) == source.argmax(1)).all()


def test_report_has_tables_and_pictures(artifacts_dir):
    md = (artifacts_dir / "report.md").read_text()
    assert md.count("| ok |") == 17
    for png in ("report_cells.png", "report_confusion.png"):
        assert (artifacts_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
