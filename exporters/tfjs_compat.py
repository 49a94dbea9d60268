"""What the TF.js converter needs around it: an import workaround, and graph rewrites for ops TF.js lacks.

tensorflowjs imports `tensorflow_decision_forests` at converter import time (for TF-DF models, which Rosetta
never converts), and every TF-DF release is broken against TF 2.21. The package is installed with --no-deps
(requirements-nodeps.txt) and an empty stand-in module satisfies the import. Import the converter only
through `tfjs_converter()`.

TF.js has no kernel for `Erfc`, which TensorFlow emits for exact GELU (gelu(approximate=False) is
0.5 x erfc(-x / sqrt 2)). `exact_rewrites()` rewrites the frozen graph the converter is about to optimise:
Erfc(x) -> Sub(1, Erf(x)), the same function (TF.js has Erf), not an approximation of it.
"""
from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from types import ModuleType


def tfjs_converter() -> ModuleType:
    sys.modules.setdefault("tensorflow_decision_forests", types.ModuleType("tensorflow_decision_forests"))
    from tensorflowjs.converters import tf_saved_model_conversion_v2

    return tf_saved_model_conversion_v2


def rewrite_erfc(graph_def) -> int:
    """Erfc(x) -> Sub(1, Erf(x)) in place, in the graph's own nodes; returns how many were rewritten. The Sub
    keeps the Erfc node's name, so every consumer (and the signature) reads the same tensor."""
    from tensorflow.core.framework import attr_value_pb2, node_def_pb2
    from tensorflow.python.framework import dtypes, tensor_util

    rewritten = []
    for node in graph_def.node:
        if node.op != "Erfc":
            continue
        dtype = node.attr["T"].type
        erf = node_def_pb2.NodeDef(name=f"{node.name}/erf", op="Erf", input=[node.input[0]], device=node.device)
        erf.attr["T"].type = dtype
        one = node_def_pb2.NodeDef(name=f"{node.name}/one", op="Const", device=node.device)
        one.attr["dtype"].type = dtype
        one.attr["value"].CopyFrom(attr_value_pb2.AttrValue(
            tensor=tensor_util.make_tensor_proto(1.0, dtype=dtypes.as_dtype(dtype), shape=[])))
        node.op = "Sub"
        del node.input[:]
        node.input.extend([one.name, erf.name])
        rewritten += [erf, one]
    graph_def.node.extend(rewritten)
    return len(rewritten) // 2


@contextlib.contextmanager
def exact_rewrites(converter: ModuleType) -> Iterator[dict[str, int]]:
    """While converting: the converter's frozen graph is rewritten (see module doc) before its optimisation and
    op check. Yields {rewrite: count}, filled in by the conversion."""
    import tensorflow as tf

    counts: dict[str, int] = {}
    original = converter.optimize_graph

    def optimize_graph(graph, signature_def, *args, **kwargs):
        graph_def = graph.as_graph_def()
        erfc = rewrite_erfc(graph_def)
        if erfc:
            counts["Erfc -> 1 - Erf"] = counts.get("Erfc -> 1 - Erf", 0) + erfc
            graph = tf.Graph()
            with graph.as_default():
                tf.graph_util.import_graph_def(graph_def, name="")
        return original(graph, signature_def, *args, **kwargs)

    converter.optimize_graph = optimize_graph
    try:
        yield counts
    finally:
        converter.optimize_graph = original
