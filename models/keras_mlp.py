"""Keras 3 lane (TensorFlow backend): compile -> fit -> predict."""
from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from models.common import EpochCallback, EpochStats, History, TrainConfig, Weights, total_steps  # noqa: E402
from rosetta import contract  # noqa: E402
from rosetta.atomic import atomic_file  # noqa: E402

CHECKPOINT = "model.keras"
DISTRIBUTIONS = ("keras", "tensorflow-cpu")

Model = keras.Model


def build(seed: int = contract.SEED) -> keras.Model:
    keras.utils.set_random_seed(seed)
    layers = [keras.Input(shape=contract.IMAGE_SHAPE, name=contract.INPUT_NAME, dtype="float32"),
              keras.layers.Flatten(name="flatten")]
    layers += [keras.layers.Dense(units, activation="relu", name=f"dense_{i}")
               for i, units in enumerate(contract.HIDDEN_UNITS)]
    layers.append(keras.layers.Dense(contract.NUM_CLASSES, activation="softmax", name=contract.OUTPUT_NAME))
    return keras.Sequential(layers, name="mnist_mlp")


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


def train(model: keras.Model, images: np.ndarray, labels: np.ndarray, config: TrainConfig,
          on_epoch: EpochCallback | None = None) -> tuple[keras.Model, History]:
    keras.utils.set_random_seed(config.seed)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, total_steps(len(labels), config))
    # Several steps per tf.function call and XLA: per-step dispatch, not math, dominates at this size.
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=500, jit_compile=True)
    history = History()
    model.fit(images, labels, batch_size=config.batch_size, epochs=config.epochs, shuffle=True,
              verbose=0, callbacks=[_EpochReporter(history, on_epoch)])
    return model, history


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)


def save(model: keras.Model, directory: Path) -> Path:
    path = Path(directory) / CHECKPOINT
    with atomic_file(path) as tmp:
        model.save(tmp)
    return path


def load(directory: Path) -> keras.Model:
    return keras.models.load_model(Path(directory) / CHECKPOINT)


def get_weights(model: keras.Model) -> Weights:
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return [(np.asarray(layer.kernel), np.asarray(layer.bias)) for layer in dense]


def set_weights(model: keras.Model, weights: Weights) -> keras.Model:
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer, (kernel, bias) in zip(dense, weights, strict=True):
        layer.set_weights([kernel, bias])
    return model
