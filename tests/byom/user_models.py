"""Small models a user might bring, one per source kind; importable as `tests.byom.user_models:<factory>`."""
from __future__ import annotations

import numpy as np

SEED = 7


def torch_nchw_classifier():
    """A PyTorch conv net on NCHW images [B, 3, 16, 16] -> 5 softmax scores (BatchNorm in eval mode)."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.norm, self.head = nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Linear(8, 5)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            features = torch.relu(self.norm(self.conv(image))).mean((2, 3))
            return torch.softmax(self.head(features) * 4, -1)  # * 4: decisive scores, so int8 argmax is stable

    torch.manual_seed(SEED)
    net = Net()
    with torch.no_grad():  # non-trivial running statistics: the export must use them, not batch statistics
        net.norm.running_mean.uniform_(-0.2, 0.2)
        net.norm.running_var.uniform_(0.5, 1.5)
    return net.eval()


def torch_nchw_examples(n: int = 200) -> np.ndarray:
    return np.random.default_rng(SEED).random((n, 3, 16, 16), dtype=np.float32)


def keras_two_io():
    """A Keras functional model with two named inputs and two named outputs (a classifier and a regressor)."""
    import keras

    keras.utils.set_random_seed(SEED)
    tabular, image = keras.Input((8,), name="tabular"), keras.Input((6, 6, 2), name="image")
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(image))
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([tabular, pooled]))
    label = keras.layers.Dense(3, activation="softmax", name="label")(hidden)
    score = keras.layers.Dense(1, name="score")(hidden)  # a regressor: not a classifier
    return keras.Model([tabular, image], [label, score], name="two_io")


def keras_two_io_examples(n: int = 150) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    return {"tabular": rng.normal(size=(n, 8)).astype(np.float32) * 3,
            "image": rng.random((n, 6, 6, 2), dtype=np.float32)}


def jax_cnn():
    """A Flax CNN (NHWC [B, 8, 8, 1] -> 4 softmax scores) as the (apply_fn, variables) pair a JAX user brings."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    class Cnn(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Conv(6, (3, 3))(x)).mean((1, 2))
            return jax.nn.softmax(nn.Dense(4)(x) * 6)

    module = Cnn()
    return module.apply, module.init(jax.random.PRNGKey(SEED), jnp.zeros((1, 8, 8, 1)))


def jax_cnn_examples(n: int = 200) -> np.ndarray:
    return np.random.default_rng(SEED).random((n, 8, 8, 1), dtype=np.float32)


def not_a_model():
    return {"weights": [1, 2, 3]}
