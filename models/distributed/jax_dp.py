"""JAX data parallelism with jax.sharding: a 1-D Mesh over `devices` devices named "data", every batch sharded
along it, parameters and optimizer state replicated. The lane's own jitted train step runs unchanged: jax.jit
partitions it from its inputs' shardings and XLA inserts the gradient all-reduce (GSPMD).

On CPU the devices are XLA host devices (models.distributed.devices sets --xla_force_host_platform_device_count
before JAX starts); across hosts, jax.distributed.initialize() first and the same Mesh spans every process."""
from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from rosetta.models import jax_lane
from rosetta.models.common import EpochCallback, History, TrainConfig
from rosetta.models.distributed import DistributedError

AXIS = "data"


class MeshPlacement:
    """jax_lane.Placement on a data mesh: state replicated, batches split along their batch dimension."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh, self.multiple_of = mesh, mesh.shape[AXIS]
        self._replicated = NamedSharding(mesh, PartitionSpec())

    def state(self, tree: Any) -> Any:
        return jax.device_put(tree, self._replicated)

    def batch(self, array: np.ndarray, stacked: bool) -> Any:
        # A stacked epoch is [steps, batch, ...]: the batch is its second dimension.
        spec = PartitionSpec(None, AXIS) if stacked else PartitionSpec(AXIS)
        return jax.device_put(array, NamedSharding(self.mesh, spec))


def data_mesh(devices: int) -> Mesh:
    available = jax.devices()  # every process's devices once jax.distributed is initialised
    if len(available) < devices:
        raise DistributedError(
            f"{devices} devices asked, JAX sees {len(available)} ({available[0].platform}); on CPU set "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={devices} before JAX starts "
            "(`rosetta train --devices N` does)")
    return Mesh(np.array(available[:devices]), (AXIS,))


def engine(devices: int) -> str:
    where = f" over {jax.process_count()} processes" if jax.process_count() > 1 else ""
    return f"jax.sharding Mesh({AXIS}={devices}) on {jax.devices()[0].platform}{where}"


def is_writer() -> bool:
    return jax.process_index() == 0


def train(model: jax_lane.Model, images: np.ndarray, labels: np.ndarray, config: TrainConfig, devices: int,
          on_epoch: EpochCallback | None = None) -> tuple[jax_lane.Model, History]:
    return jax_lane.train(model, images, labels, config, on_epoch, placement=MeshPlacement(data_mesh(devices)))
