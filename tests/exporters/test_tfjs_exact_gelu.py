"""Exact GELU reaches TF.js: TensorFlow lowers gelu(approximate=False) to Erfc, which TF.js has no kernel for;
the converter's frozen graph gets Erfc(x) -> 1 - Erf(x) (the same function), and the artifact is validated in
the real TF.js runtime (Node) against the Keras source at the float tolerance."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import rosetta
from rosetta.exporters.tfjs_compat import rewrite_erfc


def test_rewrite_computes_erfc_exactly():
    fn = tf.function(lambda x: tf.math.erfc(x) * x, input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    graph_def = fn.get_concrete_function().graph.as_graph_def()
    assert rewrite_erfc(graph_def) == 1 and "Erfc" not in {n.op for n in graph_def.node}
    (out,) = [n.name for n in graph_def.node if n.op == "Identity"][-1:]
    x = np.linspace(-6, 6, 1001, dtype=np.float32)
    rewritten = tf.compat.v1.wrap_function(lambda: tf.graph_util.import_graph_def(graph_def, {"x:0": tf.constant(x)},
                                                                                   [f"{out}:0"]), [])
    np.testing.assert_allclose(rewritten()[0].numpy(), fn(tf.constant(x)).numpy(), atol=1e-6, rtol=0)


def _exact_gelu_model():
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((12,), name="features")
    h = keras.layers.Dense(16, activation=lambda t: keras.activations.gelu(t, approximate=False))(x)
    return keras.Model(x, keras.layers.Dense(3, name="value")(h))


@pytest.mark.slow
def test_exact_gelu_model_runs_in_tfjs(tmp_path):
    examples = np.random.default_rng(0).normal(size=(64, 12)).astype(np.float32) * 2
    (entry,) = rosetta.export(_exact_gelu_model(), examples, formats=["tfjs"], artifacts=tmp_path, name="gelu")
    assert entry.ok, (entry.status, entry.error)
    assert entry.extra["tfjs_rewrites"] == {"Erfc -> 1 - Erf": 1}
    assert entry.parity.max_abs_diff <= 1e-5 and entry.runtime["name"].startswith("tfjs-node")
