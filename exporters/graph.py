"""The export graph: nodes are model representations, edges are converters, registered in one table.

A model's artifacts are the shortest paths from its source framework's node to a node of each artifact format; nodes on
those paths that are not the lane's artifact of their format are built as intermediates and discarded.
Adding a format is adding a node, an edge into it and a runtime for it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from rosetta.contract import FORMATS
from rosetta.exporters.backend_process import Isolated
from rosetta.exporters.base import Converter, LazyConverter
from rosetta.exporters.runtimes import RUNTIMES


@dataclass(frozen=True)
class Node:
    id: str
    format: str | None  # artifact format it provides, None for a lane's source model
    filename: str  # the artifact's file inside DIR/<model>/<N>/<format>/ ("": that directory itself)


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    convert: Converter  # convert(src_path, dst_path, ctx) writes the dst node at dst_path
    tools: tuple[str, ...]  # distributions whose versions the manifest records


def lazy(ref: str) -> LazyConverter:
    """"module:function" in rosetta.exporters, imported when the edge runs."""
    return LazyConverter(ref)


def isolated(ref: str) -> Isolated:
    """"module:function" in rosetta.exporters, run in a child process: its native code has aborted the process on
    some models, and an abort must fail only its own cell."""
    return Isolated(ref)


NODES = {n.id: n for n in [
    Node("keras", None, "model.keras"),
    Node("torch", None, "model.pt"),
    Node("jax", None, "params.msgpack"),
    # Keras on its JAX and PyTorch backends: the same `.keras` file; the backend (fixed per process) decides
    # which converters can run the loaded model (exporters/keras_edges.py).
    Node("keras-jax", None, "model.keras"),
    Node("keras-torch", None, "model.keras"),
    # Model files as sources (rosetta.model_files): an ONNX file, a SavedModel directory (one signature).
    Node("onnx-file", None, "model.onnx"),
    Node("savedmodel-dir", None, ""),
    Node("savedmodel", "savedmodel", ""),  # the format dir IS the SavedModel (TF Serving staging copies it)
    # jax2tf native serialization: a SavedModel holding one XlaCallModule op (the function's StableHLO). It is
    # its own format: TF Serving runs it only with --xla_cpu_compilation_enabled and a TF new enough for its
    # calling convention, compiling once per batch size; the TF.js converter and tf2onnx reject it; TFLite
    # converts it with runtime shape arithmetic and an unfused softmax (4-16x slower than the other lanes).
    # So a JAX model's `savedmodel`, TFLite and TF.js go through ONNX -> onnx2tf like a torch model's.
    Node("savedmodel-xla", "savedmodel-xla", ""),
    Node("onnx", "onnx", "model.onnx"),
    Node("tflite-fp32", "tflite-fp32", "model.tflite"),
    Node("tflite-int8", "tflite-int8", "model.tflite"),
    Node("tflite-int16x8", "tflite-int16x8", "model.tflite"),
    Node("tflite-dynamic-int8", "tflite-dynamic-int8", "model.tflite"),
    Node("tfjs", "tfjs", "model.json"),
    Node("torchscript", "torchscript", "model.pt"),
    Node("pt2", "pt2", "model.pt2"),
    Node("tflite-fp16", "tflite-fp16", "model.tflite"),
    Node("onnx-fp16", "onnx-fp16", "model.onnx"),
    Node("onnx-int8", "onnx-int8", "model.onnx"),
    Node("openvino", "openvino", "model.xml"),  # with model.bin beside it: the format dir is the artifact
    Node("executorch", "executorch", "model.pte"),
]}

EDGES: list[Edge] = [
    Edge("keras", "savedmodel", lazy("tf_edges:keras_to_savedmodel"), ("keras", "tensorflow")),
    Edge("keras-jax", "savedmodel", lazy("keras_edges:savedmodel_on_tensorflow"), ("keras", "tensorflow")),
    Edge("keras-torch", "savedmodel", lazy("keras_edges:savedmodel_on_tensorflow"), ("keras", "tensorflow")),
    Edge("jax", "savedmodel-xla", lazy("tf_edges:jax_to_savedmodel"), ("jax", "tensorflow")),
    Edge("onnx", "savedmodel", lazy("tf_edges:onnx_to_savedmodel"), ("onnx2tf", "tensorflow")),
    Edge("savedmodel", "tflite-fp32", lazy("tf_edges:savedmodel_to_tflite_fp32"), ("tensorflow",)),
    Edge("savedmodel", "tflite-int8", lazy("tf_edges:savedmodel_to_tflite_int8"), ("tensorflow",)),
    Edge("savedmodel", "tflite-int16x8", isolated("tf_edges:savedmodel_to_tflite_int16x8"), ("tensorflow",)),
    Edge("savedmodel", "tflite-dynamic-int8", lazy("tf_edges:savedmodel_to_tflite_dynamic_int8"), ("tensorflow",)),
    Edge("savedmodel", "tfjs", lazy("tf_edges:savedmodel_to_tfjs"), ("tensorflowjs", "tensorflow")),
    Edge("savedmodel", "onnx", lazy("onnx_edges:savedmodel_to_onnx"), ("tf2onnx", "onnx")),
    Edge("torch", "onnx", lazy("onnx_edges:torch_to_onnx"), ("torch", "onnxscript", "onnx")),
    Edge("jax", "onnx", lazy("onnx_edges:jax_to_onnx"), ("jax2onnx", "onnx")),
    Edge("onnx-file", "onnx", lazy("file_edges:onnx_file_to_onnx"), ("onnx",)),
    Edge("savedmodel-dir", "savedmodel", lazy("file_edges:savedmodel_dir_to_savedmodel"), ("tensorflow",)),
    Edge("torch", "torchscript", lazy("torch_edges:torch_to_torchscript"), ("torch",)),
    Edge("torch", "pt2", lazy("torch_edges:torch_to_pt2"), ("torch",)),
    Edge("keras-torch", "pt2", lazy("keras_edges:keras_torch_to_pt2"), ("keras", "torch")),
    Edge("savedmodel", "tflite-fp16", lazy("tflite_fp16_edges:savedmodel_to_tflite_fp16"), ("tensorflow",)),
    Edge("onnx", "onnx-fp16", lazy("onnx_variant_edges:onnx_to_fp16"), ("onnxconverter-common", "onnx")),
    Edge("onnx", "onnx-int8", lazy("onnx_variant_edges:onnx_to_int8"), ("onnxruntime", "onnx")),
    Edge("onnx", "openvino", lazy("openvino_edges:onnx_to_openvino"), ("openvino",)),
    Edge("pt2", "executorch", lazy("executorch_edges:pt2_to_executorch"), ("executorch", "torch")),
]

assert set(FORMATS) == {n.format for n in NODES.values() if n.format} == set(RUNTIMES)


def shortest_paths(source: str) -> dict[str, list[Edge]]:
    """Breadth-first: node id -> the edges of the shortest path from `source` (ties: table order)."""
    paths: dict[str, list[Edge]] = {source: []}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for edge in EDGES:
            if edge.src == node and edge.dst not in paths:
                paths[edge.dst] = paths[node] + [edge]
                queue.append(edge.dst)
    return paths


def plan(lane: str) -> dict[str, list[Edge]]:
    """Format -> path of edges producing the lane's artifact of that format (only reachable formats)."""
    paths = shortest_paths(lane)
    chosen: dict[str, list[Edge]] = {}
    for node_id, path in sorted(paths.items(), key=lambda kv: len(kv[1])):
        fmt = NODES[node_id].format
        if fmt and fmt not in chosen:
            chosen[fmt] = path
    return {fmt: chosen[fmt] for fmt in FORMATS if fmt in chosen}


def node_path(node: Node, model_name: str, root: Path) -> Path:
    """Where node's file/dir lives for a model, below `root` (the format dir or an intermediate's dir)."""
    return root / node.filename


def describe(path: list[Edge]) -> str:
    return " -> ".join([path[0].src] + [e.dst for e in path]) if path else ""

