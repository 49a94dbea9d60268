"""The site builder: index.json and index.html against the manifest, snippets, archives, SRI, determinism,
the local server, the CLI, and bad input."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zipfile
from email.message import Message
from pathlib import Path

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from rosetta.core.spec import ModelSpec
from rosetta.serving.server.artifact_site import SiteNotBuilt, mount
from rosetta.web.catalog import OFFERED_FORMATS, WEB_FORMATS, SiteError
from rosetta.web.drawable import drawing_demo
from rosetta.web.serve import make_server
from rosetta.web.site import build_site, main
from rosetta.web.sri import add_integrity

WEB = Path(__file__).resolve().parents[2] / "web"
ASSET_TAG = re.compile(r"<(script|link)\b[^>]*>")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entries_by_cell(manifest: dict) -> dict[tuple[str, str], dict]:
    return {(e["model_name"], e["format"]): e for e in manifest["artifacts"]}


def section(html: str, model: str) -> str:
    return html.split(f'id="model-{model}"')[1].split("</section>")[0]


def test_index_lists_every_web_format_of_every_model(site_dir: Path, site_index: dict, manifest: dict) -> None:
    cells = entries_by_cell(manifest)
    assert [m["model_name"] for m in site_index["models"]] == ["tiny-classifier", "two-inputs"]
    for model in site_index["models"]:
        assert model["spec"] == cells[(model["model_name"], "onnx")]["spec"]
        # every web format, then the further ones the model was exported to, in the site's order
        assert [a["format"] for a in model["artifacts"]] == [f for f in OFFERED_FORMATS
                                                             if (model["model_name"], f) in cells]
        assert set(WEB_FORMATS) <= {a["format"] for a in model["artifacts"]}
        for a in model["artifacts"]:
            entry = cells[(a["model_name"], a["format"])]
            assert (a["sha256"], a["bytes"]) == (entry["sha256"], entry["bytes"])
            assert a["parity"]["max_abs_diff"] == entry["parity"]["max_abs_diff"]
            for f in a["files"]:
                data = (site_dir / f["url"]).read_bytes()
                assert (sha256(data), len(data)) == (f["sha256"], f["bytes"]), f["url"]
            if a["sha256_of"] == "file":
                assert sha256((site_dir / a["url"]).read_bytes()) == a["sha256"]
            assert [t["name"] for t in a["inputs"]] == [t["name"] for t in model["spec"]["inputs"]]
            assert [t["name"] for t in a["outputs"]] == [t["name"] for t in model["spec"]["outputs"]]
    assert site_index["unavailable"] == []


def test_int8_quantization_per_tensor_comes_from_the_signature(site_dir: Path, site_index: dict,
                                                               manifest: dict) -> None:
    html = (site_dir / "index.html").read_text()
    for model in site_index["models"]:
        int8 = next(a for a in model["artifacts"] if a["format"] == "tflite-int8")
        sig = entries_by_cell(manifest)[(model["model_name"], "tflite-int8")]["signature"]
        reported = {t["name"]: t["quantization"] for t in (*sig["inputs"], *sig["outputs"])}
        for t in (*int8["inputs"], *int8["outputs"]):
            assert t["dtype"] == "int8" and t["quantization"] == reported[t["name"]]
            assert repr(t["quantization"]["scale"]) in section(html, model["model_name"])
        assert not any("quantization" in t for a in model["artifacts"] if a["format"] != "tflite-int8"
                       for t in (*a["inputs"], *a["outputs"]))


def test_snippets_name_every_input_and_output(site_dir: Path, site_index: dict) -> None:
    html = (site_dir / "index.html").read_text()
    for model in site_index["models"]:
        text = section(html, model["model_name"])
        snippets = re.findall(r"<details><summary>(.*?)</summary><pre><code[^>]*>(.*?)</code></pre>", text, re.S)
        runtimes = [title for title, _ in snippets]
        assert runtimes == ["LiteRT on Android (Kotlin), tflite-int8", "LiteRT on iOS (Swift), tflite-int8",
                            "LiteRT on Android (Kotlin), tflite-fp32", "LiteRT on iOS (Swift), tflite-fp32",
                            "TF.js (tf.loadGraphModel)", "onnxruntime-web (ort.InferenceSession.create)"]
        names = [t["name"] for t in (*model["spec"]["inputs"], *model["spec"]["outputs"])]
        for title, code in snippets:
            for name in names:
                assert f"&quot;{name}&quot;" in code, (model["model_name"], title, name)
        for a in model["artifacts"]:
            for f in a["files"]:
                assert f'href="{f["url"]}"' in text and f["sha256"] in text
    two = section(html, "two-inputs")
    assert "runSignature(mapOf(&quot;a&quot; to a, &quot;b&quot; to b)" in two
    assert "[&quot;shifted&quot;, &quot;logits&quot;]" in two  # TF.js asks for both outputs by name
    assert "results[&quot;logits&quot;].data" in two


def test_demo_plan_is_read_from_the_spec(site_dir: Path, site_index: dict) -> None:
    tiny, two = site_index["models"]
    assert tiny["demo"] == {"available": True, "input": "pixels", "output": "scores", "height": 8, "width": 8,
                            "shape": [1, 8, 8], "classes": 3, "kind": "probabilities",
                            "examples": "demo/examples/tiny-classifier.json"}
    assert two["demo"]["available"] is False and "2 input(s)" in two["demo"]["reason"]
    html = (site_dir / "index.html").read_text()
    assert 'href="demo/index.html?model=tiny-classifier"' in section(html, "tiny-classifier")
    assert "No drawing demo for this model: the drawing demo takes one image input" in section(html, "two-inputs")
    examples = json.loads((site_dir / tiny["demo"]["examples"]).read_text())
    assert examples["input"] == "pixels" and len(examples["items"]) == 3  # one per class
    assert all(len(e["values"]) == 64 and len(e["reference"]) == 3 for e in examples["items"])


@pytest.mark.parametrize(("inputs", "outputs", "expected"), [
    ([("x", "FP32", [-1, 12, 20], "NHW")], [("y", [-1, 5], "logits")], (12, 20, [1, 12, 20], 5)),
    ([("x", "FP32", [-1, 6, 7, 1], "NHWC")], [("y", [-1, 2], "probabilities")], (6, 7, [1, 6, 7, 1], 2)),
    ([("x", "FP32", [-1, 1, 9, 9], "NCHW")], [("y", [-1, 4], "logits")], (9, 9, [1, 1, 9, 9], 4)),
    ([("x", "FP32", [-1, 16, 16], None)], [("y", [-1, 3], "logits")], (16, 16, [1, 16, 16], 3)),
    ([("x", "FP32", [-1, 3, 9, 9], "NCHW")], [("y", [-1, 4], "logits")], "3 channels"),
    ([("x", "INT64", [-1, 9, 9], "NHW")], [("y", [-1, 4], "logits")], "is INT64"),
    ([("x", "FP32", [-1, -1, 9], "NHW")], [("y", [-1, 4], "logits")], "free height or width"),
    ([("x", "FP32", [-1, 9, 9], "NHW")], [("y", [-1, 4], None)], "not a classifier output"),
    ([("x", "FP32", [-1, 81], None)], [("y", [-1, 4], "logits")], "makes one grey image"),
    ([("x", "FP32", [-1, 9, 9], "NHW"), ("z", "FP32", [-1, 2], None)], [("y", [-1, 4], "logits")], "2 input(s)"),
])
def test_drawing_demo_fits_grey_image_classifiers_only(inputs, outputs, expected) -> None:
    spec = ModelSpec.from_json({
        "name": "m", "inputs": [{"name": n, "datatype": d, "shape": s, "layout": lay} for n, d, s, lay in inputs],
        "outputs": [{"name": n, "datatype": "FP32", "shape": s, "kind": k} for n, s, k in outputs]})
    plan = drawing_demo(spec)
    if isinstance(expected, str):
        assert isinstance(plan, str) and expected in plan
    else:
        assert (plan["height"], plan["width"], plan["shape"], plan["classes"]) == expected


def test_archives_hold_the_model_artifacts_readme_and_manifest_excerpt(site_dir: Path, site_index: dict) -> None:
    for model in site_index["models"]:
        path = site_dir / model["archive"]["url"]
        data = path.read_bytes()
        assert path.name == f"{model['model_name']}-mobile-web.zip"
        assert (sha256(data), len(data)) == (model["archive"]["sha256"], model["archive"]["bytes"])
        top = path.stem
        expected = {f"{top}/{a['format']}/{Path(f['url']).name}": f for a in model["artifacts"] for f in a["files"]}
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert zf.testzip() is None
            assert set(zf.namelist()) == set(expected) | {f"{top}/{n}" for n in ("README.md", "manifest.json",
                                                                               "SHA256SUMS")}
            for name, f in expected.items():
                assert sha256(zf.read(name)) == f["sha256"], name
            excerpt = json.loads(zf.read(f"{top}/manifest.json"))
            assert {(e["model_name"], e["format"]) for e in excerpt["artifacts"]} == {
                (model["model_name"], a["format"]) for a in model["artifacts"]}
            sums = dict(reversed(line.split("  ")) for line in zf.read(f"{top}/SHA256SUMS").decode().splitlines())
            assert sums == {name.removeprefix(f"{top}/"): f["sha256"] for name, f in expected.items()}
            readme = zf.read(f"{top}/README.md").decode()
            int8 = next(a for a in model["artifacts"] if a["format"] == "tflite-int8")
            for t in int8["inputs"]:
                assert f"`{t['name']}`: int8" in readme and f"zero_point {t['quantization']['zero_point']}" in readme


def test_rebuild_is_byte_identical(built_artifacts: Path, demo_examples: dict, site_dir: Path,
                                   tmp_path: Path) -> None:
    again = build_site(built_artifacts, tmp_path / "site", demo_examples)

    def tree(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): sha256(p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}
    assert tree(again) == tree(site_dir)


@pytest.fixture(scope="module")
def client(site_dir: Path) -> TestClient:
    app = Starlette()
    mount(app, site_dir)
    return TestClient(app)


def test_listing_page_needs_nothing_but_itself(site_dir: Path) -> None:
    """Opened from disk a page may not load SRI-checked or module resources: the listing inlines its style."""
    html = (site_dir / "index.html").read_text()
    fetched = [t for t in ASSET_TAG.findall(html) if t]
    assert [t for t in ASSET_TAG.finditer(html) if 'href="data:' not in t.group(0)] == [], fetched
    assert "<style>" in html and ".model {" in html and "<script" not in html
    assert 'href="demo/index.html"' in html  # a file:// directory link would show a listing, not the page


def test_demo_loads_its_scripts_with_integrity(client: TestClient, site_dir: Path) -> None:
    html = client.get("/artifacts/demo/").text
    assets = json.loads(re.search(r"var assets = (\[.*?\]);", html).group(1))
    assert [a["url"] for a in assets] == ["vendor/ort-wasm-simd-threaded.mjs", "vendor/tf.min.js",
                                          "vendor/ort.wasm.min.js", "demo.js"]
    for a in assets:
        body = client.get(f"/artifacts/demo/{a['url']}").content
        assert a["integrity"] == "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode(), a["url"]
    assert "location.protocol === 'file:'" in html and "rosetta site --serve" in html


def test_mount_is_read_only_and_serves_runtime_types(client: TestClient, site_index: dict) -> None:
    assert client.post("/artifacts/index.json").status_code == 405
    assert client.get("/artifacts/index.json").json() == site_index
    wasm = next(f for f in site_index["browser_runtimes"]["onnxruntime-web"]["files"] if f["url"].endswith(".wasm"))
    response = client.get(f"/artifacts/{wasm['url']}")
    assert response.headers["content-type"] == "application/wasm"
    assert "sha384-" + base64.b64encode(hashlib.sha384(response.content).digest()).decode() == wasm["integrity"]


@pytest.fixture(scope="module")
def local_server(site_dir: Path):
    server = make_server(site_dir, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _get(url: str, method: str = "GET") -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.mark.parametrize(("path", "mime"), [
    ("", "text/html"), ("demo/", "text/html"), ("index.json", "application/json"),
    ("demo/vendor/ort-wasm-simd-threaded.wasm", "application/wasm"),
    ("demo/vendor/ort-wasm-simd-threaded.mjs", "text/javascript"), ("demo/demo.js", "text/javascript"),
    ("downloads/tiny-classifier-mobile-web.zip", "application/zip")])
def test_local_server_serves_the_site_with_browser_mime_types(local_server: str, site_dir: Path, path: str,
                                                              mime: str) -> None:
    status, headers, body = _get(local_server + path)
    assert status == 200 and headers["Content-Type"].split(";")[0] == mime
    assert body == (site_dir / (f"{path}index.html" if path.endswith("/") or not path else path)).read_bytes()


def test_local_server_is_read_only_and_stays_inside_the_site(local_server: str) -> None:
    assert _get(local_server + "index.json", "POST")[0] == 501
    assert _get(local_server + "index.json", "PUT")[0] == 501
    assert _get(local_server + "../../../etc/passwd")[0] == 404
    assert _get(local_server + "%2e%2e/%2e%2e/etc/passwd")[0] == 404
    assert _get(local_server + "index.json")[0] == 200  # still serving after the bad requests


def test_local_server_refuses_a_dir_that_is_not_a_site(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="no index.json; build the site first"):
        make_server(tmp_path, port=0)


@pytest.mark.parametrize("url", ["https://cdn.example/tf.min.js", "//cdn.example/x.js", "/abs.js", "missing.js"])
def test_pages_may_load_only_files_of_the_site(tmp_path: Path, url: str) -> None:
    (tmp_path / "ok.js").write_text("1")
    assert 'integrity="sha384-' in add_integrity('<script src="ok.js"></script>', tmp_path)
    with pytest.raises(SiteError, match="not a relative URL inside the site|names no file of the site"):
        add_integrity(f'<script src="{url}"></script>', tmp_path)


def test_mount_refuses_a_dir_that_is_not_a_site(tmp_path: Path) -> None:
    with pytest.raises(SiteNotBuilt, match="no index.json"):
        mount(Starlette(), tmp_path)


def test_web_reads_the_model_from_the_manifest_only() -> None:
    """No built-in model knowledge in web/: no contract import, MNIST names, 28x28 / 784 or fixed tensor names."""
    forbidden = re.compile(r"rosetta\.contract|from rosetta import contract|mnist-|\b(28|784)\b|"
                           r"""["'](images|probabilities)["']""", re.IGNORECASE)
    sources = [p for p in WEB.rglob("*") if p.suffix in (".py", ".js", ".html", ".css")]
    assert len(sources) >= 10
    hits = [f"{p.relative_to(WEB)}:{i}: {line.strip()}" for p in sources
            for i, line in enumerate(p.read_text().splitlines(), 1) if forbidden.search(line)]
    assert hits == []


# --- bad input and the CLI ---------------------------------------------------------------------------------
def test_fake_artifacts_build(fake_artifacts: Path, tmp_path: Path) -> None:
    index = json.loads((build_site(fake_artifacts, tmp_path / "site") / "index.json").read_text())
    assert [m["model_name"] for m in index["models"]] == ["fake-model"]
    assert index["models"][0]["demo"]["available"] and index["models"][0]["demo"]["classes"] == 4


def test_cli_builds_and_reports_errors(fake_artifacts: Path, tmp_path: Path) -> None:
    def rosetta(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rosetta.cli", *args], capture_output=True, text=True,
                              timeout=300)
    done = rosetta("site", "--artifacts", str(fake_artifacts), "--site-dir", str(tmp_path / "s"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s" / "index.json").is_file() and "site built" in done.stdout
    failed = rosetta("site", "--artifacts", str(tmp_path / "nowhere"))
    assert failed.returncode == 2 and "manifest.json: missing; run `rosetta export`" in failed.stderr


def test_missing_manifest_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SiteError, match=r"manifest\.json: missing; run `rosetta export`"):
        build_site(tmp_path, tmp_path / "site")
    assert main(["--artifacts", str(tmp_path)]) == 2
    assert "manifest.json: missing" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


def _other_spec(e: dict) -> dict:
    if e["format"] != "onnx":
        return e
    outputs = [{**t, "kind": None} for t in e["spec"]["outputs"]]  # no longer a classifier
    return {**e, "spec": {**e["spec"], "outputs": outputs}}


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda m: "{not json", r"not valid JSON"),
    (lambda m: json.dumps([m]), r"expected a JSON object"),
    (lambda m: json.dumps({**m, "schema_version": 1}), r"schema_version 1, expected 3"),
    (lambda m: json.dumps({**m, "artifacts": {}}), r"'artifacts' must be a list"),
    (lambda m: json.dumps({**m, "artifacts": [{"model_name": "x"}]}), r"artifacts\[0\]: missing or malformed field \(KeyError\('spec'\)\)"),
    (lambda m: json.dumps({**m, "artifacts": [{**e, "version": "1"} for e in m["artifacts"]]}),
     r"artifacts\[0\]: missing or malformed field .*version must be a positive integer, got '1'"),
    (lambda m: json.dumps({**m, "artifacts": [{k: v for k, v in e.items() if k != "sha256"}
                                              for e in m["artifacts"]]}), r"fake-model/tflite-int8: entry lacks sha256"),
    (lambda m: json.dumps({**m, "artifacts": [{**e, "sha256": "abc"} for e in m["artifacts"]]}),
     r"fake-model/tflite-int8: bytes must be an integer and sha256 a hex string"),
    (lambda m: json.dumps({**m, "artifacts": [{**e, "path": "../../etc/passwd"} for e in m["artifacts"]]}),
     r"must be relative and inside the artifacts dir"),
    (lambda m: json.dumps({**m, "artifacts": [{**e, "model_name": "../up"} for e in m["artifacts"]]}),
     r"model name '\.\./up'"),
    (lambda m: json.dumps({**m, "artifacts": [{**e, "spec": {"name": "s"}} for e in m["artifacts"]]}),
     r"artifacts\[0\]: model spec: needs name, inputs and outputs"),
    (lambda m: json.dumps({**m, "artifacts": [_other_spec(e) for e in m["artifacts"]]}),
     r"fake-model: entries disagree on the model spec"),
    (lambda m: json.dumps({**m, "artifacts": [{**e, "signature": {"inputs": [{"name": "p"}, {"name": "q"}],
                                                                  "outputs": []}} for e in m["artifacts"]]}),
     r"the runtime reports \['p', 'q'\], the spec has \['x'\]"),
    (lambda m: json.dumps({**m, "artifacts": [{**e, "status": "failed"} for e in m["artifacts"]]}),
     r"no tflite-int8/tflite-fp32/tfjs/onnx artifact with status ok"),
])
def test_malformed_manifest_is_a_clear_error(fake_artifacts: Path, tmp_path: Path, mutate, message: str) -> None:
    path = fake_artifacts / "manifest.json"
    path.write_text(mutate(json.loads(path.read_text())))
    with pytest.raises(SiteError, match=message):
        build_site(fake_artifacts, tmp_path / "site")


def test_an_artifact_that_differs_from_the_manifest_fails_and_keeps_the_old_site(fake_artifacts: Path,
                                                                                 tmp_path: Path) -> None:
    site = build_site(fake_artifacts, tmp_path / "site")
    before = (site / "index.json").read_bytes()
    (fake_artifacts / "fake-model" / "1" / "tfjs" / "group1-shard1of1.bin").write_bytes(b"tampered")
    with pytest.raises(SiteError, match=r"group1-shard1of1\.bin: sha256 .* but the manifest says"):
        build_site(fake_artifacts, site)
    assert (site / "index.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "site"]  # no temp dir left behind


def test_a_failed_cell_is_listed_as_unavailable(fake_artifacts: Path, tmp_path: Path) -> None:
    path = fake_artifacts / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["artifacts"][2].update(status="gate-failed")  # tfjs: the demo needs it
    path.write_text(json.dumps(manifest))
    index = json.loads((build_site(fake_artifacts, tmp_path / "site") / "index.json").read_text())
    assert index["unavailable"] == [{"model_name": "fake-model", "format": "tfjs", "reason": "status gate-failed"}]
    assert [a["format"] for a in index["models"][0]["artifacts"]] == ["tflite-int8", "tflite-fp32", "onnx",
                                                                      "tflite-int16x8", "tflite-dynamic-int8"]
    assert index["models"][0]["demo"] == {"available": False,
                                          "reason": "it runs tfjs and onnx side by side; this model lacks one"}
    assert "Not offered" in (tmp_path / "site" / "index.html").read_text()


def test_each_format_offers_its_newest_ok_version(fake_artifacts: Path, tmp_path: Path) -> None:
    """Version 2 re-exports onnx (ok) and tfjs (gate-failed): the site offers onnx v2, keeps tfjs v1 (its newest
    ok version) and the tflite files of v1; a retired version is not offered; a newest version with another spec
    keeps the older formats off the page rather than mixing two contracts."""
    from tests.web.conftest import _entry

    path = fake_artifacts / "manifest.json"
    manifest = json.loads(path.read_text())
    onnx2 = _entry("fake-model", "onnx", {"model.onnx": b"onnx v2"}, fake_artifacts, version=2)
    tfjs2 = {**_entry("fake-model", "tfjs", {"model.json": b"{}", "w.bin": b"v2"}, fake_artifacts, version=2),
             "status": "gate-failed"}
    manifest["artifacts"] += [onnx2, tfjs2]
    path.write_text(json.dumps(manifest))
    index = json.loads((build_site(fake_artifacts, tmp_path / "a") / "index.json").read_text())
    assert index["unavailable"] == []
    by_format = {a["format"]: a for a in index["models"][0]["artifacts"]}
    assert {f: a["version"] for f, a in by_format.items()} == {"tflite-int8": 1, "tflite-fp32": 1, "tfjs": 1,
                                                              "onnx": 2, "tflite-int16x8": 1,
                                                              "tflite-dynamic-int8": 1}
    assert "onnx <small>v2</small>" in (tmp_path / "a" / "index.html").read_text()
    assert by_format["onnx"]["sha256"] == onnx2["sha256"]
    assert by_format["tfjs"]["sha256"] == manifest["artifacts"][2]["sha256"]  # v1's, the newest ok
    manifest["models"]["fake-model"]["retired"] = [2]
    path.write_text(json.dumps(manifest))
    index = json.loads((build_site(fake_artifacts, tmp_path / "b") / "index.json").read_text())
    assert {a["format"]: a for a in index["models"][0]["artifacts"]}["onnx"]["sha256"] == manifest["artifacts"][3]["sha256"]
    manifest["models"]["fake-model"]["retired"] = []
    manifest["artifacts"][-2]["spec"] = {**SPEC_V2}
    path.write_text(json.dumps(manifest))
    index = json.loads((build_site(fake_artifacts, tmp_path / "c") / "index.json").read_text())
    assert [a["format"] for a in index["models"][0]["artifacts"]] == ["onnx"]
    assert {u["format"] for u in index["unavailable"]} == {"tflite-int8", "tflite-fp32", "tfjs", "tflite-int16x8",
                                                           "tflite-dynamic-int8"}
    assert all("another spec than version 2" in u["reason"] for u in index["unavailable"])


SPEC_V2 = {"name": "fake", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 5, 5], "layout": "NHW"}],
           "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 4], "kind": "probabilities"}]}


def test_refuses_to_replace_something_that_is_not_a_site(fake_artifacts: Path, tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="would replace the artifacts dir"):
        build_site(fake_artifacts, fake_artifacts)
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(SiteError, match="not a site built by web.site"):
        build_site(fake_artifacts, other)
    assert (other / "notes.txt").read_text() == "keep me"


def test_cli_gives_builtin_models_their_validation_examples(fake_artifacts: Path, tmp_path: Path,
                                                           test_split) -> None:
    """`rosetta site` knows the built-in models' validation data (the MNIST test split); web/ does not."""
    from rosetta import contract

    name = contract.served_name("mnist-mlp", "torch")
    spec = contract.MNIST_MLP.renamed(name).to_json()
    path = fake_artifacts / "manifest.json"
    manifest = json.loads(path.read_text())
    for e in manifest["artifacts"]:
        old = Path(fake_artifacts / e["model_name"])
        e.update(model_name=name, spec=spec, path=e["path"].replace(e["model_name"], name, 1))
        for side, tensor in (("inputs", spec["inputs"][0]), ("outputs", spec["outputs"][0])):
            e["signature"][side][0].update(name=tensor["name"], shape=[None, *tensor["shape"][1:]])
        if old.exists():
            old.rename(fake_artifacts / name)
    path.write_text(json.dumps(manifest))
    outputs = np.random.default_rng(0).dirichlet(np.ones(10), len(test_split)).astype(np.float32)
    np.savez(fake_artifacts / name / "1" / "source_outputs.npz", **{spec["outputs"][0]["name"]: outputs})
    done = subprocess.run([sys.executable, "-m", "rosetta.cli", "site", "--artifacts", str(fake_artifacts),
                           "--site-dir", str(tmp_path / "s")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert index["models"][0]["demo"]["examples"] == f"demo/examples/{name}.json"
    items = json.loads((tmp_path / "s" / "demo" / "examples" / f"{name}.json").read_text())["items"]
    assert [e["label"] for e in items] == list(range(10))
    for e in items:
        np.testing.assert_array_equal(np.asarray(e["values"], np.float32), test_split.images[e["index"]].reshape(-1))
        np.testing.assert_array_equal(np.asarray(e["reference"], np.float32), outputs[e["index"]])
