"""Keras 3 on its JAX backend: the Keras distribution API, keras.distribution.DataParallel over N JAX devices
(a DeviceMesh with a "batch" axis: every batch sharded along it, variables replicated; Keras lowers it to
jax.sharding and XLA inserts the gradient all-reduce). For the keras-jax lane (KERAS_BACKEND=jax); on CPU the
devices are XLA host devices (models.distributed.devices). The lane's own build, compile and fit run inside the
distribution's scope; the weights go back into the plain model, so the checkpoint is an ordinary one."""
from __future__ import annotations

import jax
import keras
import numpy as np

from rosetta.models import keras_lane
from rosetta.models.common import EpochCallback, History, TrainConfig
from rosetta.models.distributed import DistributedError


def distribution(devices: int) -> keras.distribution.DataParallel:
    if keras.backend.backend() != "jax":
        raise DistributedError(f"keras.distribution runs on the JAX backend; this process runs Keras on "
                               f"{keras.backend.backend()!r} (KERAS_BACKEND=jax selects it)")
    found = jax.devices()
    if len(found) < devices:
        raise DistributedError(f"{devices} devices asked, JAX sees {len(found)}; on CPU set XLA_FLAGS="
                               f"--xla_force_host_platform_device_count={devices} before JAX starts")
    return keras.distribution.DataParallel(devices=found[:devices])


def engine(devices: int) -> str:
    return f"keras.distribution.DataParallel x{devices} (JAX {jax.devices()[0].platform})"


def is_writer() -> bool:
    return jax.process_index() == 0


def train(model: keras_lane.Model, images: np.ndarray, labels: np.ndarray, config: TrainConfig, devices: int,
          on_epoch: EpochCallback | None = None) -> tuple[keras_lane.Model, History]:
    initial = keras_lane.get_weights(model)
    with distribution(devices).scope():  # variables created here are laid out on the device mesh
        replicated = keras_lane.set_weights(keras_lane.build(keras_lane.architecture(model), config.seed), initial)
        keras_lane.compile_for_training(replicated, config, len(labels))
        history = keras_lane.fit(replicated, images, labels, config, on_epoch)
    return keras_lane.set_weights(model, keras_lane.get_weights(replicated)), history
