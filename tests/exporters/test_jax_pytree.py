"""A JAX model's variables may be any pytree (a NamedTuple, a list, a registered class such as an Equinox
module): every JAX route takes it, jax2tf included, which holds the array leaves as tf.Variables and rebuilds the
tree inside the function."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rosetta
from rosetta.jax_function import JaxFunction


class Dense(NamedTuple):
    w: jax.Array
    b: jax.Array


@jax.tree_util.register_pytree_node_class
class Mlp:
    """A registered pytree class, as an Equinox module is: array leaves (the layers) and a static part that is
    not an array (the activation function)."""

    def __init__(self, layers: list[Dense], activation=jax.nn.gelu) -> None:
        self.layers, self.activation = layers, activation

    def tree_flatten(self):
        return (self.layers,), self.activation

    @classmethod
    def tree_unflatten(cls, activation, children):
        return cls(*children, activation=activation)


def _apply(model: Mlp, x: jax.Array) -> jax.Array:
    for layer in model.layers[:-1]:
        x = model.activation(x @ layer.w + layer.b)
    last = model.layers[-1]
    return jax.nn.softmax(x @ last.w + last.b, axis=-1)


def _model() -> JaxFunction:
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    layers = [Dense(jax.random.normal(keys[0], (6, 16)), jnp.zeros(16)),
              Dense(jax.random.normal(keys[1], (16, 4)) * 0.5, jnp.full(4, 0.1))]
    return JaxFunction(_apply, Mlp(layers))


def test_split_rebuilds_the_tree_from_its_array_leaves():
    fn = _model()
    arrays, apply_on = fn.split()
    assert len(arrays) == 4  # the activation function stays in the tree's structure
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(apply_on(arrays, x)), np.asarray(fn(x)))


@pytest.mark.slow
def test_registered_pytree_params_in_every_jax_route(tmp_path):
    examples = np.random.default_rng(1).normal(size=(80, 6)).astype(np.float32)
    entries = rosetta.export(_model(), examples, artifacts=tmp_path, name="pytree",
                             formats=["savedmodel-xla", "onnx"])  # savedmodel, TFLite, TF.js: from the onnx node
    assert all(e.ok for e in entries), [(e.format, e.status, e.error) for e in entries]
