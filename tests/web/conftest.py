"""Web fixtures: the built site (once per session) and a tiny fake artifacts dir for the builder's error paths."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from web.catalog import WEB_FORMATS
from web.site import build_site


@pytest.fixture(scope="session")
def site_dir(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(artifacts_dir, tmp_path_factory.mktemp("web") / "site")


@pytest.fixture(scope="session")
def site_index(site_dir: Path) -> dict:
    return json.loads((site_dir / "index.json").read_text())


@pytest.fixture(scope="session")
def manifest(artifacts_dir: Path) -> dict:
    return json.loads((artifacts_dir / "manifest.json").read_text())


def _entry(lane: str, fmt: str, files: dict[str, bytes], root: Path) -> dict:
    """A manifest entry shaped like exporters/pipeline.py writes, for fake files written below root."""
    fmt_dir = root / lane / fmt
    fmt_dir.mkdir(parents=True)
    for name, data in files.items():
        (fmt_dir / name).write_bytes(data)
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    main = "model.json" if fmt == "tfjs" else next(iter(files))
    quant = {"quantization": {"scale": 1 / 255, "zero_point": -128}} if fmt == "tflite-int8" else {}
    entry = {"lane": lane, "format": fmt, "status": "ok", "path": f"{lane}/{fmt}/{main}",
             "bytes": sum(map(len, files.values())),
             "parity": {"max_abs_diff": 0.0, "argmax_agreement": 1.0, "accuracy": 0.98, "source_accuracy": 0.98,
                        "passed": True},
             "signature": {"inputs": [{"name": "images", "shape": [None, 28, 28], "dtype": "float32", **quant}],
                           "outputs": [{"name": "probabilities", "shape": [None, 10], "dtype": "float32", **quant}]}}
    if len(files) > 1:
        listing = sorted(files)
        entry["sha256"] = hashlib.sha256("".join(f"{n} {sha[n]}\n" for n in listing).encode()).hexdigest()
        entry["files"] = [{"path": n, "bytes": len(files[n]), "sha256": sha[n]} for n in listing]
    else:
        entry["sha256"] = sha[main]
    return entry


@pytest.fixture
def fake_artifacts(tmp_path: Path) -> Path:
    """One lane with the four web formats as small stand-in files (the builder never parses model bytes)."""
    root = tmp_path / "artifacts"
    files = {"tflite-int8": {"model.tflite": b"int8"}, "tflite-fp32": {"model.tflite": b"fp32"},
             "tfjs": {"model.json": b"{}", "group1-shard1of1.bin": b"weights"}, "onnx": {"model.onnx": b"onnx"}}
    entries = [_entry("torch", fmt, files[fmt], root) for fmt in WEB_FORMATS]
    manifest = {"schema_version": 1, "created": "test", "tool_versions": {}, "artifacts": entries}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root
