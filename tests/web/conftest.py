"""Web fixtures: a real (tiny) artifacts dir in manifest v3, the site built from it (once per session), and a
fake artifacts dir of stand-in bytes for the builder's error paths."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rosetta.web.catalog import OFFERED_FORMATS
from rosetta.web.examples import from_validation
from rosetta.web.site import build_site

DEMO_MODEL = "tiny-classifier"


def _load_fixture_models():
    """tests/web/fixture_models.py by path: pytest runs with --import-mode=importlib (no sys.path entry)."""
    path = Path(__file__).with_name("fixture_models.py")
    spec = importlib.util.spec_from_file_location("web_fixture_models", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


fixture_models = _load_fixture_models()


@pytest.fixture(scope="session")
def fixture_lib():
    """tests/web/fixture_models.py (test modules cannot import it: importlib mode)."""
    return fixture_models


@pytest.fixture(scope="session")
def built_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny models really exported (ONNX, TF.js, TFLite fp32/int8) with their manifest v3 entries."""
    return fixture_models.build(tmp_path_factory.mktemp("web-artifacts"))


@pytest.fixture(scope="session")
def demo_examples(built_artifacts: Path) -> dict:
    model = fixture_models.tiny_classifier()
    _, labels = fixture_models.bands(len(model.validation["pixels"]), np.random.default_rng(fixture_models.SEED + 2))
    return {DEMO_MODEL: from_validation(built_artifacts / DEMO_MODEL / "1" / "source_outputs.npz", "scores",
                                        model.validation["pixels"], labels)}


@pytest.fixture(scope="session")
def site_dir(built_artifacts: Path, demo_examples: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(built_artifacts, tmp_path_factory.mktemp("web") / "site", demo_examples)


@pytest.fixture(scope="session")
def site_index(site_dir: Path) -> dict:
    return json.loads((site_dir / "index.json").read_text())


@pytest.fixture(scope="session")
def manifest(built_artifacts: Path) -> dict:
    return json.loads((built_artifacts / "manifest.json").read_text())


SPEC = {"name": "fake", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 5, 5], "layout": "NHW"}],
        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 4], "kind": "logits"}]}


def _entry(model: str, fmt: str, files: dict[str, bytes], root: Path, version: int = 1) -> dict:
    """A manifest v3 entry for stand-in files written below root (the builder never parses model bytes)."""
    fmt_dir = root / model / str(version) / fmt
    fmt_dir.mkdir(parents=True)
    for name, data in files.items():
        (fmt_dir / name).write_bytes(data)
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    main = "model.json" if fmt == "tfjs" else next(iter(files))
    quant = {"quantization": {"scale": 0.5, "zero_point": -3}} if fmt == "tflite-int8" else {}
    entry = {"model_name": model, "lane": "torch", "format": fmt, "version": version, "status": "ok", "spec": SPEC,
             "path": f"{model}/{version}/{fmt}/{main}", "bytes": sum(map(len, files.values())),
             "parity": {"examples": 10, "max_abs_diff": 0.0, "argmax_agreement": 1.0, "accuracy": 0.9,
                        "source_accuracy": 0.9, "passed": True},
             "signature": {"inputs": [{"name": "x", "shape": [None, 5, 5], "dtype": "float32", **quant}],
                           "outputs": [{"name": "y", "shape": [None, 4], "dtype": "float32", **quant}]}}
    if len(files) > 1:
        listing = sorted(files)
        entry["sha256"] = hashlib.sha256("".join(f"{n} {sha[n]}\n" for n in listing).encode()).hexdigest()
        entry["files"] = [{"path": n, "bytes": len(files[n]), "sha256": sha[n]} for n in listing]
    else:
        entry["sha256"] = sha[main]
    return entry


@pytest.fixture
def fake_artifacts(tmp_path: Path) -> Path:
    """One model with the web formats as small stand-in files."""
    root = tmp_path / "artifacts"
    files = {"tflite-int8": {"model.tflite": b"int8"}, "tflite-fp32": {"model.tflite": b"fp32"},
             "tflite-int16x8": {"model.tflite": b"int16x8"}, "tflite-dynamic-int8": {"model.tflite": b"dyn"},
             "tfjs": {"model.json": b"{}", "group1-shard1of1.bin": b"weights"}, "onnx": {"model.onnx": b"onnx"}}
    entries = [_entry("fake-model", fmt, files[fmt], root) for fmt in OFFERED_FORMATS if fmt in files]
    manifest = {"schema_version": 3, "created": "test", "tool_versions": {}, "artifacts": entries,
                "models": {"fake-model": {"labels": {"stable": 1}, "retired": []}}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Building the tiny models takes about a minute of TF converters: end to end, so marked slow."""
    for item in items:
        if "built_artifacts" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)



