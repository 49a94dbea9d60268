"""Data-parallel training of the lanes on each framework's own engine: JAX `jax.sharding` (jax_dp), PyTorch
DistributedDataParallel under torchrun (torch_ddp), TensorFlow `tf.distribute.MirroredStrategy` (keras_mirrored),
Keras's own `keras.distribution.DataParallel` on its JAX backend (keras_jax_dp).
No gradient is averaged here: the engine does it. Every engine module has the same shape:
`train(lane_model, images, labels, config, devices, on_epoch) -> (lane_model, History)`, `engine(devices)`
(what metrics.json records) and `is_writer()` (whether this process writes the checkpoint).

Each trains the lane's own model with the lane's loss, Adam and cosine schedule, on the lane's batch order:
the global batch B of the single-device run is split into `devices` contiguous shards of B / devices
(a short last batch is cut to a multiple of `devices`). The result is an ordinary lane checkpoint."""
from __future__ import annotations

import importlib
from types import ModuleType

_MODULES = {"jax": "rosetta.models.distributed.jax_dp", "torch": "rosetta.models.distributed.torch_ddp",
            "keras": "rosetta.models.distributed.keras_mirrored",
            # Keras on its JAX backend (the keras-jax lane): the Keras distribution API.
            "keras-jax": "rosetta.models.distributed.keras_jax_dp"}
# Lanes with no data-parallel engine here, and why.
UNSUPPORTED = {
    "keras-torch": "Keras 3's distribution API (keras.distribution) runs on the JAX backend only, and Keras's "
                   "torch-backend trainer has no DistributedDataParallel integration (its fit runs one "
                   "process on one device); train it with --devices 1, or the torch lane with DDP",
}


class DistributedError(Exception):
    """Data-parallel training cannot run as asked (unsupported lane, too few devices, bad batch split)."""


def check(lane: str, devices: int, batch_size: int) -> None:
    """Refuse, before any process starts, what no engine can run."""
    if lane in UNSUPPORTED:
        raise DistributedError(f"--devices {devices}: lane {lane!r} has no data-parallel engine: {UNSUPPORTED[lane]}")
    if lane not in _MODULES:
        raise DistributedError(f"--devices {devices}: unknown lane {lane!r}; data-parallel lanes: "
                               f"{', '.join(_MODULES)}")
    if batch_size % devices:
        raise DistributedError(f"--devices {devices}: the global batch size {batch_size} must split evenly over "
                               f"{devices} devices (every device takes batch_size / devices examples a step)")


def engine_module(lane: str) -> ModuleType:
    """Import a lane's engine on demand (after models.distributed.devices.configure has run)."""
    if lane not in _MODULES:
        raise DistributedError(f"lane {lane!r} has no data-parallel engine")
    return importlib.import_module(_MODULES[lane])
