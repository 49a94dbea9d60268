"""Artifact directories written by hand, as the exporter writes them (rosetta.core.manifest schema 3:
DIR/<model>/<N>/onnx/model.onnx; "models": {name: {"labels", "retired"}}).

Each version is a small ONNX graph whose answer shows which version ran: y = x + offset. The offset comes
from a table gathered at input-dependent row indices (always row 0), so ONNX Runtime cannot fold the table
away: `table_rows` sets the model's size for memory tests (4 floats per row).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rosetta.core.atomic import atomic_file, write_json
from rosetta.core.digest import file_sha256
from rosetta.core.spec import ModelSpec, TensorSpec

WIDTH = 4


def offset_spec(name: str) -> ModelSpec:
    return ModelSpec(name, (TensorSpec("x", "FP32", (-1, WIDTH)),), (TensorSpec("y", "FP32", (-1, WIDTH)),))


@functools.lru_cache(maxsize=4)
def offset_model(offset: float, table_rows: int = 1) -> bytes:
    """Cached: building a large one holds the GIL for a while, which a load test does before its clients start."""
    table = numpy_helper.from_array(np.full((table_rows, WIDTH), offset, np.float32), "table")
    zero = numpy_helper.from_array(np.zeros((), np.float32), "zero")
    nodes = [helper.make_node("Mul", ["x", "zero"], ["zeros"]),
             helper.make_node("ReduceMax", ["zeros"], ["row0"], axes=[1], keepdims=0),
             helper.make_node("Cast", ["row0"], ["ids"], to=TensorProto.INT64),
             helper.make_node("Gather", ["table", "ids"], ["offsets"], axis=0),
             helper.make_node("Add", ["x", "offsets"], ["y"])]
    graph = helper.make_graph(nodes, "offset", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", WIDTH])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", WIDTH])],
                              initializer=[table, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


class VersionedArtifacts:
    """An artifacts directory the test publishes versions into, as `rosetta export` and `rosetta release`
    would: files first, then the manifest, atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.entries: dict[tuple[str, int], dict] = {}
        self.models: dict[str, dict] = {}

    def publish(self, name: str, version: int, offset: float, *, table_rows: int = 1, file_bytes: bytes | None = None,
                write: bool = True) -> Path:
        """Version `version` of `name` answering x + offset. `file_bytes` replaces the file on disk after its
        hash was recorded (a corrupt or unloadable artifact). Labels follow NOTES: first publish -> stable,
        a later one -> canary."""
        relpath = f"{name}/{version}/onnx/model.onnx"
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        data = offset_model(offset, table_rows)
        with atomic_file(path) as tmp:
            tmp.write_bytes(data)
        sha = file_sha256(path)
        if file_bytes is not None:
            with atomic_file(path) as tmp:
                tmp.write_bytes(file_bytes)
        spec = offset_spec(name)
        self.entries[(name, version)] = {
            "model_name": name, "lane": "test", "format": "onnx", "version": version, "spec": spec.to_json(),
            "status": "ok", "path": relpath, "bytes": len(data), "sha256": sha,
            "signature": {"inputs": [{"name": "x", "shape": [None, WIDTH], "dtype": "float32"}],
                          "outputs": [{"name": "y", "shape": [None, WIDTH], "dtype": "float32"}]}}
        record = self.models.setdefault(name, {"labels": {}, "retired": []})
        record["labels"].setdefault("stable", version)
        if record["labels"]["stable"] != version:
            record["labels"]["canary"] = version
        if write:
            self.write()
        return path

    def release(self, name: str, *, stable: int | None = None, canary: int | None | str = "keep",
                retire: tuple[int, ...] = ()) -> None:
        labels = self.models[name]["labels"]
        if stable is not None:
            labels["stable"] = stable
        if canary is None:
            labels.pop("canary", None)
        elif canary != "keep":
            labels["canary"] = canary
        self.models[name]["retired"] = sorted(set(self.models[name]["retired"]) | set(retire))
        self.write()

    def write(self) -> None:
        write_json(self.root / "manifest.json", {"schema_version": 3, "created": "test", "tool_versions": {},
                                                 "artifacts": list(self.entries.values()), "models": self.models})
