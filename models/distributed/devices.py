"""Device set-up that must happen before a framework initialises, so it imports none at module level.

On CPU each framework needs to be told to present N devices: XLA reads `--xla_force_host_platform_device_count`
when JAX creates its CPU backend; TensorFlow splits the CPU into logical devices only before its runtime starts.
PyTorch needs nothing here: torchrun starts one process per device."""
from __future__ import annotations

import os
import re
import sys

XLA_HOST_DEVICES = "--xla_force_host_platform_device_count"


def configure(lane: str, devices: int) -> None:
    """Make `devices` devices visible to `lane`'s framework in this process (a no-op where real ones exist)."""
    if lane == "jax":
        _xla_host_devices(devices)
    elif lane == "keras":
        _tf_logical_cpus(devices)


def _xla_host_devices(devices: int) -> None:
    if "jax" in sys.modules:
        import jax
        if jax._src.xla_bridge.backends_are_initialized():  # too late for the flag to count
            return
    flags = re.sub(rf"{XLA_HOST_DEVICES}=\d+", "", os.environ.get("XLA_FLAGS", ""))
    os.environ["XLA_FLAGS"] = f"{flags} {XLA_HOST_DEVICES}={devices}".strip()


def _tf_logical_cpus(devices: int) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return  # MirroredStrategy takes the GPUs
    (cpu,) = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    except RuntimeError:
        pass  # TensorFlow already initialised: keras_mirrored.train reports the devices it finds
