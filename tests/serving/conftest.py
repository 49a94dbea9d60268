"""Serving fixtures: the artifacts to serve and one live ONNX Runtime server shared by the session."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rosetta import contract
from serving.process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]


def build_standin_artifacts(dest: Path) -> Path:
    """A manifest + one ONNX file per lane, exported from the torch lane (not trained if no checkpoint).

    Each lane gets different weights so that a server answering with the wrong model fails the tests.
    """
    import onnxruntime as ort
    import torch

    from models import lane
    from rosetta.data import load_split

    torch_lane = lane("torch")
    images = load_split("test").images
    entries = []
    for i, name in enumerate(contract.LANES):
        model = torch_lane.build(seed=contract.SEED + i)
        if name == "torch":
            try:  # the trained checkpoint when it exists and still fits the lane's code
                model = torch_lane.load(ROOT / "artifacts" / "torch")
            except (OSError, RuntimeError):
                pass
        out = dest / name / "onnx" / "model.onnx"
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.onnx.export(model.eval(), torch.zeros(1, *contract.IMAGE_SHAPE), str(out),
                          input_names=[contract.INPUT_NAME], output_names=[contract.OUTPUT_NAME],
                          dynamic_axes={contract.INPUT_NAME: {0: "batch"}, contract.OUTPUT_NAME: {0: "batch"}},
                          dynamo=False)
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        probs = session.run(None, {contract.INPUT_NAME: images})[0].astype(np.float32)
        np.save(dest / name / "source_probabilities.npy", probs)
        data = out.read_bytes()
        entries.append({
            "lane": name, "format": "onnx", "model_name": f"mnist-{name}", "version": 1,
            "path": f"{name}/onnx/model.onnx", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "signature": {
                "inputs": [{"name": contract.INPUT_NAME, "shape": [None, *contract.IMAGE_SHAPE], "dtype": "float32"}],
                "outputs": [{"name": contract.OUTPUT_NAME, "shape": [None, contract.NUM_CLASSES], "dtype": "float32"}],
            },
            "parity": {"max_abs_diff": 0.0, "argmax_agreement": 1.0, "passed": True},
            "status": "ok",
        })
    manifest = {"schema_version": 1, "created": "stand-in", "tool_versions": {}, "artifacts": entries}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return dest


# TEMPORARY: the lead's tests/conftest.py will provide the real `artifacts_dir` (train + export once per
# session); delete this fixture then, so the serving tests run against the real artifacts.
@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_standin_artifacts(tmp_path_factory.mktemp("standin-artifacts"))


@pytest.fixture(scope="session")
def onnx_entries(artifacts_dir: Path) -> list[dict]:
    manifest = json.loads((artifacts_dir / "manifest.json").read_text())
    return [e for e in manifest["artifacts"] if e["format"] == "onnx"]


@pytest.fixture(scope="session")
def server(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ORT server for the session, dynamic batching on, small limits so the limit tests are cheap."""
    with ServerProcess(artifacts_dir, repository=tmp_path_factory.mktemp("model-repo"),
                       extra_args=["--max-request-rows", "1000", "--max-body-bytes", str(8 << 20)],
                       log_path=tmp_path_factory.mktemp("logs") / "server.log") as proc:
        yield proc
