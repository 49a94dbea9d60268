"""Keras 3 lanes: the built-in architectures as Keras models (NHWC), compile -> fit, on whichever backend this
process's Keras runs: `keras` (TensorFlow), `keras-jax`, `keras-torch` (models.lane sets KERAS_BACKEND first)."""
from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from rosetta import contract  # noqa: E402
from rosetta.core.atomic import atomic_file  # noqa: E402
from rosetta.models import architectures as arch  # noqa: E402
from rosetta.models.architectures import Weights  # noqa: E402
from rosetta.models.common import (  # noqa: E402
    EpochCallback,
    EpochStats,
    History,
    TrainConfig,
    total_steps,
    warmup_steps,  # noqa: E402
)

CHECKPOINT = "model.keras"
BACKEND = keras.backend.backend()
DISTRIBUTIONS = ("keras", *{"tensorflow": ("tensorflow-cpu",), "jax": ("jax", "jaxlib"),
                            "torch": ("torch",)}[BACKEND])
# Several steps per compiled call, XLA-compiled: per-step dispatch, not math, dominates the MLP. The torch
# backend runs one step per call (Keras refuses more) and eagerly: jit_compile there means torch.compile.
_COMPILE = {"tensorflow": {"steps_per_execution": 500, "jit_compile": True},
            "jax": {"steps_per_execution": 500, "jit_compile": True},
            "torch": {"steps_per_execution": 1, "jit_compile": False}}[BACKEND]
# The CNN's steps are convolution-bound (dispatch is noise), and XLA:CPU runs convolutions inside a compiled loop
# slowly: on TensorFlow, oneDNN without XLA takes half the CPU time (one epoch on 12,000 images, one thread:
# 8.6-8.8 CPU-s without jit_compile vs 17.1-18.1 with it); on JAX one step per call keeps the loop out.
_CNN_COMPILE = {"tensorflow": {"steps_per_execution": 50, "jit_compile": False},
                "jax": {"steps_per_execution": 1, "jit_compile": True},
                "torch": _COMPILE}[BACKEND]

Model = keras.Model
_KERAS_NAMES = {arch.MLP: "mnist_mlp", arch.CNN: "mnist_cnn"}  # Keras model names: identifiers


def _input() -> keras.KerasTensor:
    spec = contract.MNIST_MLP.inputs[0]  # both built-ins take the same images
    return keras.Input(shape=spec.shape[1:], name=spec.name, dtype="float32")


def _output_layer() -> keras.layers.Dense:
    return keras.layers.Dense(contract.NUM_CLASSES, activation="softmax",
                              name=contract.MNIST_MLP.outputs[0].name)


def _mlp() -> list[keras.layers.Layer]:
    return [keras.layers.Flatten(name="flatten"),
            *(keras.layers.Dense(units, activation="relu", name=f"dense_{i}")
              for i, units in enumerate(contract.HIDDEN_UNITS))]


def _cnn() -> list[keras.layers.Layer]:
    (c1, c2), k, pool = arch.CONV_FILTERS, arch.CONV_KERNEL, arch.POOL
    return [keras.layers.Reshape((*contract.IMAGE_SHAPE, 1), name="channels"),
            keras.layers.Conv2D(c1, k, padding="valid", activation="relu", name="conv_0"),
            keras.layers.MaxPooling2D(pool, name="pool_0"),
            keras.layers.Conv2D(c2, k, padding="valid", use_bias=False, name="conv_1"),
            keras.layers.BatchNormalization(epsilon=arch.BN_EPSILON, momentum=arch.BN_MOMENTUM, name="norm"),
            keras.layers.ReLU(name="relu"),
            keras.layers.MaxPooling2D(pool, name="pool_1"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(arch.CNN_DENSE_UNITS, activation="relu", name="dense_0")]


def build(model: str = arch.MLP, seed: int = contract.SEED) -> keras.Model:
    hidden = {arch.MLP: _mlp, arch.CNN: _cnn}[arch.check_architecture(model)]
    keras.utils.set_random_seed(seed)  # Glorot-uniform kernels, zero biases: the Keras defaults
    return keras.Sequential([_input(), *hidden(), _output_layer()], name=_KERAS_NAMES[model])


def architecture(model: keras.Model) -> str:
    for name, keras_name in _KERAS_NAMES.items():
        if model.name == keras_name:
            return name
    raise ValueError(f"Keras model {model.name!r} is not a built-in architecture")


class _EpochReporter(keras.callbacks.Callback):
    def __init__(self, history: History, on_epoch: EpochCallback | None) -> None:
        super().__init__()
        self.history_out, self.on_epoch, self.start = history, on_epoch, 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        stats = EpochStats(epoch + 1, float(logs["loss"]), float(logs["accuracy"]),
                           time.perf_counter() - self.start)
        self.history_out.epochs.append(stats)
        if self.on_epoch:
            self.on_epoch(stats)


def compile_for_training(model: keras.Model, config: TrainConfig, examples: int, **compile_options: object) -> None:
    """The lane's loss, Adam and cosine schedule over the whole run, on one device or under a tf.distribute
    strategy's scope (which overrides the backend's `_COMPILE` options). Seeds Keras first, as every run of the
    lane does."""
    keras.utils.set_random_seed(config.seed)
    total, warm = total_steps(examples, config), warmup_steps(examples, config)
    schedule = (keras.optimizers.schedules.CosineDecay(0.0, total - warm, warmup_target=config.learning_rate,
                                                       warmup_steps=warm) if warm else
                keras.optimizers.schedules.CosineDecay(config.learning_rate, total))
    # Keras' sparse cross-entropy has no label smoothing: the labels go in one-hot (fit) to the dense one.
    loss = (keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing) if config.label_smoothing
            else "sparse_categorical_crossentropy")
    defaults = _CNN_COMPILE if architecture(model) == arch.CNN else _COMPILE
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss,
                  metrics=["accuracy"], **{**defaults, **compile_options})


def fit(model: keras.Model, images: np.ndarray, labels: np.ndarray, config: TrainConfig,
        on_epoch: EpochCallback | None = None) -> History:
    """The lane's batch order: Keras shuffles every epoch from the seed compile_for_training set."""
    history = History()
    if config.label_smoothing:
        labels = np.eye(contract.NUM_CLASSES, dtype=np.float32)[labels]
    model.fit(images, labels, batch_size=config.batch_size, epochs=config.epochs, shuffle=True,
              verbose=0, callbacks=[_EpochReporter(history, on_epoch)])
    return history


def train(model: keras.Model, images: np.ndarray, labels: np.ndarray, config: TrainConfig,
          on_epoch: EpochCallback | None = None) -> tuple[keras.Model, History]:
    compile_for_training(model, config, len(labels))
    return model, fit(model, images, labels, config, on_epoch)


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)


def export_source(model: keras.Model) -> keras.Model:
    return model


def save(model: keras.Model, directory: Path) -> Path:
    path = Path(directory) / CHECKPOINT
    with atomic_file(path) as tmp:
        model.save(tmp)
    arch.write_architecture(directory, architecture(model))
    return path


def load(directory: Path) -> keras.Model:
    expected = arch.read_architecture(directory)
    model = keras.models.load_model(Path(directory) / CHECKPOINT)
    if architecture(model) != expected:
        raise ValueError(f"{directory}: {arch.ARCHITECTURE_FILE} says {expected!r}, the checkpoint holds "
                         f"{architecture(model)!r}")
    return model


def _weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """In canonical order; each layer's weights are already in the canonical layout (HWIO conv kernels,
    [in, out] dense kernels, BatchNorm gamma/beta/moving mean/moving variance, NHWC flatten)."""
    return [layer for layer in model.layers if layer.weights]


def get_weights(model: keras.Model) -> Weights:
    return [tuple(np.asarray(w, dtype=np.float32) for w in layer.get_weights()) for layer in _weighted_layers(model)]


def set_weights(model: keras.Model, weights: Weights) -> keras.Model:
    arch.check_weights(architecture(model), weights)
    for layer, arrays in zip(_weighted_layers(model), weights, strict=True):
        layer.set_weights(list(arrays))
    return model
