"""Bring your own model, from the CLI, for the three source kinds: every reachable cell built, run in its own
runtime against the source, gated, recorded; an NCHW model's artifacts all take NCHW."""
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.byom import user_models

pytestmark = pytest.mark.slow
# these models are too small for dynamic-range int8 (no weight tensor of 1024+ elements): skipped, with the reason
SMALL = {"tflite-dynamic-int8": "has none, so the file would be float32"}


def _export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rosetta.cli", "export", *args], capture_output=True, text=True,
                          timeout=900)


def _cells(artifacts) -> dict[str, dict]:
    manifest = json.loads((artifacts / "manifest.json").read_text())
    assert manifest["schema_version"] == 3 and manifest["tool_versions"]["tensorflow"]
    assert {e["version"] for e in manifest["artifacts"]} == {1}  # a fresh directory: the model's first version
    return {e["format"]: e for e in manifest["artifacts"]}


def _assert_all_ok(cells: dict[str, dict], lane: str, skipped: dict[str, str] | None = None) -> None:
    """Every format the lane reaches has a cell: ok, or skipped for the reason named in `skipped`."""
    from rosetta.exporters.graph import plan

    skipped = skipped or {}
    assert set(cells) == set(plan(lane))
    for fmt, reason in skipped.items():
        assert cells[fmt]["status"] == "skipped" and reason in cells[fmt]["error"], (fmt, cells[fmt].get("error"))
    bad = {f: e.get("error") or e["parity"]["failures"] for f, e in cells.items()
           if e["status"] != "ok" and f not in skipped}
    assert not bad
    for e in (e for f, e in cells.items() if f not in skipped):
        assert e["parity"]["passed"] and e["sha256"] and e["runtime"]["version"] != "absent"


def test_pt2_with_nchw_input_keeps_its_layout_in_every_artifact(tmp_path):
    import torch

    net = user_models.torch_nchw_classifier()
    x = user_models.torch_nchw_examples()
    program = torch.export.export(net, (torch.from_numpy(x[:2]),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    torch.export.save(program, tmp_path / "classifier.pt2")
    np.save(tmp_path / "x.npy", x)
    proc = _export("--model", str(tmp_path / "classifier.pt2"), "--example-inputs", str(tmp_path / "x.npy"),
                   "--artifacts", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    cells = _cells(tmp_path / "out")
    _assert_all_ok(cells, "torch", skipped=SMALL)
    for fmt in ("savedmodel", "tflite-fp32", "tflite-int8", "tfjs", "onnx", "pt2"):
        (inp,) = cells[fmt]["signature"]["inputs"]
        assert inp["name"] == "image" and inp["shape"][1:] == [3, 16, 16], (fmt, inp)
    assert cells["onnx"]["model_name"] == "classifier" and cells["onnx"]["lane"] == "torch"
    assert cells["onnx"]["spec"]["inputs"][0]["layout"] == "NCHW"
    assert cells["onnx"]["parity"]["examples"] == 100  # half of the 200 examples calibrated int8

    # The TFLite artifact, run here by hand on NCHW rows, answers as the source does.
    from rosetta.core.spec import ModelSpec
    from rosetta.exporters.runtimes import load_tflite

    spec = ModelSpec.from_json(cells["tflite-fp32"]["spec"])
    got = load_tflite(tmp_path / "out" / cells["tflite-fp32"]["path"], spec)({"image": x[:7]})["output"]
    with torch.no_grad():
        want = net(torch.from_numpy(x[:7])).numpy()
    assert np.abs(got - want).max() <= 1e-5


def test_keras_file_with_two_inputs_and_two_outputs(tmp_path):
    user_models.keras_two_io().save(tmp_path / "two.keras")
    np.savez(tmp_path / "x.npz", **user_models.keras_two_io_examples())
    proc = _export("--model", str(tmp_path / "two.keras"), "--example-inputs", str(tmp_path / "x.npz"),
                   "--name", "two-io", "--artifacts", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    cells = _cells(tmp_path / "out")
    _assert_all_ok(cells, "keras", skipped=SMALL)
    for e in (e for e in cells.values() if e["status"] == "ok"):
        assert sorted(t["name"] for t in e["signature"]["inputs"]) == ["image", "tabular"], e["format"]
        assert set(e["parity"]["outputs"]) == {"label", "score"}
    assert cells["tflite-int8"]["parity"]["gate"]["sqnr_db[score]"]["value"] >= 20


def test_jax_factory_with_labels_reports_accuracy(tmp_path):
    x = user_models.jax_cnn_examples()
    apply, variables = user_models.jax_cnn()
    labels = np.asarray(apply(variables, x)).argmax(1)
    labels[::10] = (labels[::10] + 1) % 4  # the source is right 90% of the time
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", labels)
    proc = _export("--model", "tests.byom.user_models:jax_cnn", "--example-inputs", str(tmp_path / "x.npy"),
                   "--labels", str(tmp_path / "y.npy"), "--artifacts", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    cells = _cells(tmp_path / "out")
    _assert_all_ok(cells, "jax", skipped=SMALL)
    assert cells["onnx"]["model_name"] == "jax_cnn" and cells["onnx"]["lane"] == "jax"
    assert 0.85 <= cells["onnx"]["parity"]["source_accuracy"] <= 0.95
    assert cells["tflite-int8"]["parity"]["gate"]["accuracy_drop"]["limit"] == 0.005
    assert (tmp_path / "out" / "report.md").read_text().count("| ok |") == len(cells) - len(SMALL)


def test_bad_requests_exit_2_with_one_line(tmp_path):
    np.save(tmp_path / "x.npy", user_models.jax_cnn_examples(20))
    for args, message in [
        (["--model", str(tmp_path / "missing.pt2"), "--example-inputs", str(tmp_path / "x.npy")], "no such file"),
        (["--model", "tests.byom.user_models:jax_cnn"], "give --example-inputs"),
        (["--model", "tests.byom.user_models:jax_cnn", "--example-inputs", str(tmp_path / "x.npy"),
          "--format", "pt2"], "not reachable from a jax model"),
        (["--model", "tests.byom.user_models:jax_cnn", "--example-inputs", str(tmp_path / "x.npy"),
          "--name", "../up"], "model name"),
        (["--model", "tests.byom.user_models:torch_nchw_classifier", "--example-inputs", str(tmp_path / "x.npy")],
         "fails on its example inputs"),
    ]:
        proc = _export("--artifacts", str(tmp_path / "out"), *args)
        assert proc.returncode == 2, (args, proc.stderr[-2000:])
        assert message in proc.stderr, (message, proc.stderr[-2000:])
    assert not (tmp_path / "out" / "manifest.json").exists()
