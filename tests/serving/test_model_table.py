"""The schema-3 served set and the model table in process: what is served, labels, a model never left without a
version, retirement waiting for in-flight requests."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from kserve.model_repository import ModelRepository

from rosetta.core import manifest
from rosetta.core.manifest import ManifestError
from rosetta.serving.runtime import model_table
from rosetta.serving.runtime.model_table import ModelTable
from rosetta.serving.server.config import ServeConfig
from tests.serving.versioned_models import WIDTH, VersionedArtifacts

X = np.ones((1, WIDTH), np.float32)


@pytest.fixture
def store(tmp_path) -> VersionedArtifacts:
    s = VersionedArtifacts(tmp_path / "artifacts")
    for v in (1, 2, 3):
        s.publish("m", v, offset=float(v), write=False)
    s.release("m", stable=2, canary=3, retire=(1,))
    return s


def test_served_set_skips_retired_and_failed_versions_and_unserved_labels(store):
    entry = store.entries[("m", 3)]
    entry["status"] = "gate-failed"
    store.write()
    served = manifest.served(store.root, "onnx")
    assert [m.key for m in served.versions] == [("m", 2)]
    assert served.labels == {"m": {"stable": 2}}  # canary pointed at the failed version
    assert served.versions[0].source == store.root / "m" / "2" / "onnx" / "model.onnx"


def test_malformed_release_records_and_duplicates_are_manifest_errors(store):
    store.models["m"]["labels"]["stable"] = "two"
    store.write()
    with pytest.raises(ManifestError, match=r"models\['m'\]: malformed labels"):
        manifest.served(store.root, "onnx")
    store.models["m"]["labels"]["stable"] = 2
    store.write()
    raw = json.loads((store.root / "manifest.json").read_text())
    raw["artifacts"].append(raw["artifacts"][1])
    (store.root / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=r"more than one onnx entry for \['m v2'\]"):
        manifest.served(store.root, "onnx")


def test_apply_swaps_and_never_leaves_a_model_without_a_version(store, tmp_path):
    table = ModelTable(ModelRepository(), ServeConfig(), tmp_path / "repo")
    served = manifest.served(store.root, "onnx")
    loaded, errors = table.load(table.pending(served))
    assert errors == {} and table.apply(served, loaded)[0]
    front = table.models()["m"]
    assert front.versions == [2, 3] and front.labels == {"stable": 2, "canary": 3}
    assert front.resolve().version == 3 and front.resolve("stable").version == 2
    store.publish("other", 1, offset=0.0, write=False)  # keeps the manifest's served set non-empty...
    store.release("m", retire=(2, 3))  # ...while it serves nothing of m
    changed, retired = table.apply(manifest.served(store.root, "onnx"), {})
    assert (changed, retired) == (False, [])  # "other" was not loaded, so nothing is added either
    assert table.models()["m"].versions == [2, 3] and table.models()["m"].resolve().version == 3


def test_a_retired_version_closes_only_after_its_in_flight_requests(store, tmp_path, monkeypatch):
    monkeypatch.setattr(model_table, "LATE_ARRIVAL_S", 0.0)
    table = ModelTable(ModelRepository(), ServeConfig(), tmp_path / "repo")

    async def scenario() -> None:
        served = manifest.served(store.root, "onnx")
        table.apply(served, table.load(table.pending(served))[0])
        v2 = table.models()["m"].loaded()[2]
        held = asyncio.ensure_future(v2.infer({"x": X}))  # resolved before the swap, not yet run
        store.release("m", stable=3, retire=(2,))
        served = manifest.served(store.root, "onnx")
        _, retired = table.apply(served, {})
        assert retired == [v2] and table.models()["m"].versions == [3]
        table.retire(retired)
        out = await held  # the held request finishes on the version it took
        assert np.allclose(out["y"], X + 2)
        await table.drained()
        assert v2.runner is None and v2.session is None
        assert not (tmp_path / "repo" / "m" / "2").exists() and (tmp_path / "repo" / "m" / "3").exists()

    asyncio.run(scenario())


def test_retirement_waits_while_requests_are_in_flight(store, tmp_path, monkeypatch):
    monkeypatch.setattr(model_table, "LATE_ARRIVAL_S", 0.0)
    table = ModelTable(ModelRepository(), ServeConfig(), tmp_path / "repo")

    async def scenario() -> None:
        served = manifest.served(store.root, "onnx")
        table.apply(served, table.load(table.pending(served))[0])
        v2 = table.models()["m"].loaded()[2]
        v2.in_flight = 1  # a request inside the batcher
        table.retire([v2])
        await asyncio.sleep(0.3)
        assert v2.runner is not None  # still open for it
        v2.in_flight = 0
        await table.drained()
        assert v2.runner is None

    asyncio.run(scenario())
