"""Keras (TensorFlow backend) under tf.distribute.MirroredStrategy: one replica per device (the GPUs, else N
logical CPUs that models.distributed.devices split off before TensorFlow started), variables mirrored, each
global batch split over the replicas and the gradients all-reduced by the strategy (NCCL on GPUs, else its
in-process cross-device ops). One machine only: see devices.py for why not MultiWorkerMirroredStrategy.

The replica model is the lane's model built inside the strategy's scope with the given initial weights, and
trained by the lane's own compile and fit; its weights go back into the plain model, so the checkpoint is an
ordinary one."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from rosetta.models import keras_lane
from rosetta.models.common import EpochCallback, History, TrainConfig
from rosetta.models.distributed import DistributedError


def _devices(devices: int) -> list[str]:
    found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if len(found) < devices:
        raise DistributedError(
            f"{devices} devices asked, TensorFlow sees {len(found)}; on CPU the logical devices must be "
            "configured before TensorFlow starts (models.distributed.devices.configure; `rosetta train "
            "--devices N` does)")
    return [d.name for d in found[:devices]]


def strategy(devices: int) -> tf.distribute.MirroredStrategy:
    return tf.distribute.MirroredStrategy(_devices(devices))


def engine(devices: int) -> str:
    kind = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    return f"tf.distribute.MirroredStrategy x{devices} ({kind})"


def is_writer() -> bool:
    return True  # one process holds every replica


def train(model: keras_lane.Model, images: np.ndarray, labels: np.ndarray, config: TrainConfig, devices: int,
          on_epoch: EpochCallback | None = None) -> tuple[keras_lane.Model, History]:
    mirrored = strategy(devices)
    initial = keras_lane.get_weights(model)
    with mirrored.scope():  # variables (the model's and Adam's) created here are mirrored on every replica
        replicated = keras_lane.set_weights(keras_lane.build(keras_lane.architecture(model), config.seed), initial)
        # Both of the lane's speed-ups fail under MirroredStrategy in Keras 3.15 / TF 2.21 (measured):
        # jit_compile=True: "Trying to access resource .../replica_1/... located in device CPU:1 from device
        # CPU:0" (XLA cannot compile a step that reads a variable on another device, TF's XLA known issue);
        # steps_per_execution > 1: "You must feed a value for placeholder tensor ...while/cond/Placeholder_1"
        # in the trainer's multi-step loop. So one step per call, graph mode without XLA.
        keras_lane.compile_for_training(replicated, config, len(labels), jit_compile=False, steps_per_execution=1)
    history = keras_lane.fit(replicated, images, labels, config, on_epoch)
    return keras_lane.set_weights(model, keras_lane.get_weights(replicated)), history
