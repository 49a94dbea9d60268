"""JAX/Flax zoo entry: a small ResNet (basic blocks with BatchNorm in inference mode), as (apply, variables)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from rosetta.zoo import inputs
from rosetta.zoo.calibrate import CALIBRATION_EXAMPLES, CALIBRATION_SEED_OFFSET, head_affine

SEED = 0
IMAGE_HWC = (32, 32, 3)
CLASSES = 10


class BasicBlock(nn.Module):
    """ResNet basic block: conv-BN-ReLU-conv-BN + (projected) shortcut, then ReLU."""
    features: int
    strides: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        bn = lambda: nn.BatchNorm(use_running_average=True, momentum=0.9, epsilon=1e-5)  # noqa: E731
        y = nn.Conv(self.features, (3, 3), strides=self.strides, padding="SAME", use_bias=False)(x)
        y = nn.relu(bn()(y))
        y = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=False)(y)
        y = bn()(y)
        if x.shape[-1] != self.features or self.strides != 1:
            x = bn()(nn.Conv(self.features, (1, 1), strides=self.strides, use_bias=False)(x))
        return nn.relu(x + y)


class ResNet(nn.Module):
    """[N, 32, 32, 3] NHWC images -> stem conv -> 2 basic blocks -> global average pool -> Dense -> softmax."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.BatchNorm(use_running_average=True)(nn.Conv(16, (3, 3), use_bias=False)(x)))
        x = BasicBlock(16)(x)
        x = BasicBlock(32, strides=2)(x)
        x = jnp.mean(x, axis=(1, 2))
        return jax.nn.softmax(nn.Dense(CLASSES, name="head")(x))


def _random_batch_stats(stats: Any, key: jax.Array) -> Any:
    """Replace init's (0, 1) running stats with random ones so the inference-mode BatchNorm does real work."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(stats)
    keys = jax.random.split(key, len(leaves))
    out = []
    for (path, leaf), k in zip(leaves, keys):
        if path[-1].key == "mean":
            out.append(0.5 * jax.random.normal(k, leaf.shape, leaf.dtype))
        else:  # "var": positive, around 1
            out.append(jax.random.uniform(k, leaf.shape, leaf.dtype, 0.5, 2.0))
    return jax.tree_util.tree_unflatten(treedef, out)


def resnet() -> tuple[Callable[..., Any], dict[str, Any]]:
    """`(apply, variables)`: apply(variables, images) -> probabilities [N, 10]."""
    model = ResNet()
    init_key, stats_key = jax.random.split(jax.random.PRNGKey(SEED))
    variables = model.init(init_key, jnp.zeros((1, *IMAGE_HWC), jnp.float32))
    variables = {"params": variables["params"],
                 "batch_stats": _random_batch_stats(variables["batch_stats"], stats_key)}
    calibration = inputs.pixels_nhwc(CALIBRATION_EXAMPLES, IMAGE_HWC, SEED + CALIBRATION_SEED_OFFSET)
    _, state = model.apply(variables, calibration, capture_intermediates=lambda mdl, _: mdl.name == "head",
                           mutable=["intermediates"])
    scale, shift = head_affine(np.asarray(state["intermediates"]["head"]["__call__"][0]))
    head = variables["params"]["head"]
    variables["params"] = {**variables["params"],
                           "head": {"kernel": head["kernel"] * scale, "bias": head["bias"] * scale + shift}}
    return model.apply, variables
