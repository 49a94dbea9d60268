"""The site builder: index.json and index.html against the manifest, archives, SRI, mount, and bad input."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from rosetta.contract import LANES
from web.catalog import WEB_FORMATS, SiteError
from serving.artifact_site import SiteNotBuilt, mount
from web.site import build_site, main
from web.sri import add_integrity

ASSET_TAG = re.compile(r"<(script|link)\b[^>]*>")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entries_by_cell(manifest: dict) -> dict[tuple[str, str], dict]:
    return {(e["lane"], e["format"]): e for e in manifest["artifacts"]}


def test_index_lists_every_web_format_of_every_lane(site_dir: Path, site_index: dict, manifest: dict) -> None:
    cells = entries_by_cell(manifest)
    assert [lane["lane"] for lane in site_index["lanes"]] == list(LANES)
    for lane in site_index["lanes"]:
        assert [a["format"] for a in lane["artifacts"]] == list(WEB_FORMATS)
        for a in lane["artifacts"]:
            entry = cells[(a["lane"], a["format"])]
            assert (a["sha256"], a["bytes"], a["accuracy"]) == (entry["sha256"], entry["bytes"],
                                                                 entry["parity"]["accuracy"])
            assert a["parity"]["max_abs_diff"] == entry["parity"]["max_abs_diff"]
            for f in a["files"]:
                data = (site_dir / f["url"]).read_bytes()
                assert (sha256(data), len(data)) == (f["sha256"], f["bytes"]), f["url"]
            if a["sha256_of"] == "file":
                assert sha256((site_dir / a["url"]).read_bytes()) == a["sha256"]
    assert site_index["unavailable"] == []


def test_int8_quantization_comes_from_the_manifest_signature(site_dir: Path, site_index: dict,
                                                             manifest: dict) -> None:
    html = (site_dir / "index.html").read_text()
    for lane in site_index["lanes"]:
        int8 = next(a for a in lane["artifacts"] if a["format"] == "tflite-int8")
        sig = entries_by_cell(manifest)[(lane["lane"], "tflite-int8")]["signature"]
        assert int8["quantization"] == {"input": sig["inputs"][0]["quantization"],
                                        "output": sig["outputs"][0]["quantization"]}
        for side in ("input", "output"):
            assert repr(int8["quantization"][side]["scale"]) in html
        assert not any("quantization" in a for a in lane["artifacts"] if a["format"] != "tflite-int8")


def test_page_links_every_file_and_has_a_snippet_per_runtime(site_dir: Path, site_index: dict) -> None:
    html = (site_dir / "index.html").read_text()
    for lane in site_index["lanes"]:
        assert f'href="{lane["archive"]["url"]}"' in html and lane["archive"]["sha256"] in html
        for a in lane["artifacts"]:
            for f in a["files"]:
                assert f'href="{f["url"]}"' in html and f["sha256"] in html
        section = html.split(f'id="lane-{lane["lane"]}"')[1].split("</section>")[0]
        for needle in ("Interpreter(", "import TensorFlowLite", "tf.loadGraphModel(", "ort.InferenceSession.create("):
            assert needle in section, (lane["lane"], needle)
    assert 'href="demo/"' in html


def test_archives_hold_the_lane_artifacts_readme_and_manifest_excerpt(site_dir: Path, site_index: dict) -> None:
    for lane in site_index["lanes"]:
        path = site_dir / lane["archive"]["url"]
        data = path.read_bytes()
        assert path.name == f"mnist-{lane['lane']}-mobile-web.zip"
        assert (sha256(data), len(data)) == (lane["archive"]["sha256"], lane["archive"]["bytes"])
        top = path.stem
        expected = {f"{top}/{a['format']}/{Path(f['url']).name}": f for a in lane["artifacts"] for f in a["files"]}
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            assert zf.testzip() is None
            assert set(zf.namelist()) == set(expected) | {f"{top}/{n}" for n in ("README.md", "manifest.json",
                                                                               "SHA256SUMS")}
            for name, f in expected.items():
                assert sha256(zf.read(name)) == f["sha256"], name
            excerpt = json.loads(zf.read(f"{top}/manifest.json"))
            assert {(e["lane"], e["format"]) for e in excerpt["artifacts"]} == {(lane["lane"], fmt)
                                                                                for fmt in WEB_FORMATS}
            sums = dict(reversed(line.split("  ")) for line in zf.read(f"{top}/SHA256SUMS").decode().splitlines())
            assert sums == {name.removeprefix(f"{top}/"): f["sha256"] for name, f in expected.items()}
            assert "zero_point" in zf.read(f"{top}/README.md").decode()


def test_rebuild_is_byte_identical_for_archives(artifacts_dir: Path, site_dir: Path, site_index: dict,
                                                tmp_path: Path) -> None:
    again = json.loads((build_site(artifacts_dir, tmp_path / "site") / "index.json").read_text())
    assert [lane["archive"]["sha256"] for lane in again["lanes"]] == [
        lane["archive"]["sha256"] for lane in site_index["lanes"]]


def test_digits_are_mnist_test_images_with_their_references(site_dir: Path, artifacts_dir: Path,
                                                            test_split) -> None:
    digits = json.loads((site_dir / "demo" / "digits.json").read_text())["images"]
    assert sorted(d["label"] for d in digits) == list(range(10))
    for d in digits:
        pixels = np.asarray(d["pixels"], dtype=np.float32) / np.float32(255)
        np.testing.assert_array_equal(pixels, test_split.images[d["index"]].reshape(-1))
        assert d["label"] == test_split.labels[d["index"]]
        for lane in LANES:
            reference = np.load(artifacts_dir / lane / "source_probabilities.npy")[d["index"]]
            np.testing.assert_allclose(d["reference"][lane], reference, rtol=0, atol=1e-7)


@pytest.fixture(scope="module")
def client(site_dir: Path) -> TestClient:
    app = Starlette()
    mount(app, site_dir)
    return TestClient(app)


@pytest.mark.parametrize("page", ["", "demo/"])
def test_sri_hashes_match_the_served_assets(client: TestClient, page: str) -> None:
    response = client.get(f"/artifacts/{page}")
    assert response.status_code == 200
    tags = [m.group(0) for m in ASSET_TAG.finditer(response.text)]
    fetched = [t for t in tags if re.search(r'\s(src|href)="(?!data:)', t)]
    assert fetched, "the page loads no assets?"
    for tag in fetched:
        url = re.search(r'\s(?:src|href)="([^"]+)"', tag).group(1)
        integrity = re.search(r'\sintegrity="sha384-([^"]+)"', tag)
        assert integrity, f"no sha384 integrity on {tag}"
        asset = client.get(f"/artifacts/{page}{url}")
        assert asset.status_code == 200, url
        assert base64.b64decode(integrity.group(1)) == hashlib.sha384(asset.content).digest(), url


def test_mount_is_read_only_and_serves_runtime_types(client: TestClient, site_index: dict) -> None:
    assert client.post("/artifacts/index.json").status_code == 405
    assert client.put("/artifacts/index.json", content=b"x").status_code == 405
    assert client.get("/artifacts/index.json").json() == site_index
    assert client.get("/artifacts/demo/vendor/ort-wasm-simd-threaded.mjs").headers["content-type"].startswith(
        "text/javascript")
    wasm = next(f for f in site_index["browser_runtimes"]["onnxruntime-web"]["files"] if f["url"].endswith(".wasm"))
    response = client.get(f"/artifacts/{wasm['url']}")
    assert response.headers["content-type"] == "application/wasm"
    assert "sha384-" + base64.b64encode(hashlib.sha384(response.content).digest()).decode() == wasm["integrity"]


@pytest.mark.parametrize("url", ["https://cdn.example/tf.min.js", "//cdn.example/x.js", "/abs.js", "missing.js"])
def test_pages_may_load_only_files_of_the_site(tmp_path: Path, url: str) -> None:
    (tmp_path / "ok.js").write_text("1")
    assert 'integrity="sha384-' in add_integrity('<script src="ok.js"></script>', tmp_path)
    with pytest.raises(SiteError, match="not a relative URL inside the site|names no file of the site"):
        add_integrity(f'<script src="{url}"></script>', tmp_path)


def test_mount_refuses_a_dir_that_is_not_a_site(tmp_path: Path) -> None:
    with pytest.raises(SiteNotBuilt, match="no index.json"):
        mount(Starlette(), tmp_path)


# --- bad input -----------------------------------------------------------------------------------------------
def test_fake_artifacts_build(fake_artifacts: Path, tmp_path: Path) -> None:
    index = json.loads((build_site(fake_artifacts, tmp_path / "site") / "index.json").read_text())
    assert [lane["lane"] for lane in index["lanes"]] == ["torch"]


def test_missing_manifest_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SiteError, match=r"manifest\.json: missing; run `rosetta export`"):
        build_site(tmp_path, tmp_path / "site")
    assert main(["--artifacts", str(tmp_path)]) == 2
    assert "manifest.json: missing" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda m: "{not json", r"not valid JSON"),
    (lambda m: json.dumps([m]), r"expected a JSON object"),
    (lambda m: json.dumps({**m, "schema_version": 99}), r"schema_version 99, expected 1"),
    (lambda m: json.dumps({**m, "artifacts": {}}), r"'artifacts' must be a list"),
    (lambda m: json.dumps({**m, "artifacts": [{"lane": "torch"}]}), r"artifacts\[0\] must be an object with"),
    (lambda m: json.dumps({**m, "artifacts": [{k: v for k, v in e.items() if k != "sha256"}
                                              for e in m["artifacts"]]}), r"torch/tflite-int8: entry lacks sha256"),
    (lambda m: json.dumps({**m, "artifacts": [{**e, "sha256": "abc"} for e in m["artifacts"]]}),
     r"torch/tflite-int8: bytes must be an integer and sha256 a hex string"),
    (lambda m: json.dumps({**m, "artifacts": [{**e, "path": "../../etc/passwd"} for e in m["artifacts"]]}),
     r"must be relative and inside the artifacts dir"),
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
    (fake_artifacts / "torch" / "tfjs" / "group1-shard1of1.bin").write_bytes(b"tampered")
    with pytest.raises(SiteError, match=r"group1-shard1of1\.bin: sha256 .* but the manifest says"):
        build_site(fake_artifacts, site)
    assert (site / "index.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifacts", "site"]  # no temp dir left behind


def test_a_failed_cell_is_listed_as_unavailable(fake_artifacts: Path, tmp_path: Path) -> None:
    path = fake_artifacts / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["artifacts"][0].update(status="gate-failed")
    path.write_text(json.dumps(manifest))
    index = json.loads((build_site(fake_artifacts, tmp_path / "site") / "index.json").read_text())
    assert index["unavailable"] == [{"lane": "torch", "format": "tflite-int8", "reason": "status gate-failed"}]
    assert [a["format"] for a in index["lanes"][0]["artifacts"]] == ["tflite-fp32", "tfjs", "onnx"]
    assert "Not offered" in (tmp_path / "site" / "index.html").read_text()


def test_refuses_to_replace_something_that_is_not_a_site(fake_artifacts: Path, tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="would replace the artifacts dir"):
        build_site(fake_artifacts, fake_artifacts)
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(SiteError, match="not a site built by web.site"):
        build_site(fake_artifacts, other)
    assert (other / "notes.txt").read_text() == "keep me"
