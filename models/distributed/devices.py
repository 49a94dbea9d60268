"""Device and cluster set-up that must happen before a framework initialises, so it imports none at module level.

On CPU each framework needs to be told to present N devices: XLA reads `--xla_force_host_platform_device_count`
when JAX creates its CPU backend; TensorFlow splits the CPU into logical devices only before its runtime starts.
PyTorch needs nothing here: torchrun starts one process per device.

Across processes (multi-node; k8s/training), `--devices` is the global count, split evenly over the processes:
- jax: JAX_COORDINATOR_ADDRESS (host:port of process 0; read by jax.distributed.initialize itself),
  JAX_NUM_PROCESSES and JAX_PROCESS_ID (ours: JAX reads them from no environment outside SLURM/MPI/TPU);
- torch: torchrun's own flags (--nnodes, --node-rank, --rdzv-endpoint) and the env it sets;
- keras: refused. tf.distribute's multi-worker engine, MultiWorkerMirroredStrategy (TF_CONFIG), fails inside
  Keras 3's fit: measured here with Keras 3.15.1 / TF 2.21 on two local workers, "Attempt to convert a value
  (PerReplica:{...}) with an unsupported type ... to a Tensor", the open upstream issue
  keras-team/keras#20585 (tensorflow/tensorflow#72388)."""
from __future__ import annotations

import os
import re
import sys

from rosetta import keras_backends
from rosetta.models.distributed import DistributedError

XLA_HOST_DEVICES = "--xla_force_host_platform_device_count"


def processes(lane: str) -> tuple[int, int]:
    """(number of processes, this process's index) of a multi-process run of `lane`, from its environment."""
    if lane == "jax" and os.environ.get("JAX_COORDINATOR_ADDRESS"):
        try:
            return int(os.environ["JAX_NUM_PROCESSES"]), int(os.environ["JAX_PROCESS_ID"])
        except (KeyError, ValueError) as exc:
            raise DistributedError(f"JAX_COORDINATOR_ADDRESS is set: JAX_NUM_PROCESSES and JAX_PROCESS_ID must be "
                                   f"integers too ({exc!r})") from None
    return 1, 0


def configure(lane: str, devices: int) -> None:
    """Make `devices` devices (over all processes) visible to `lane`'s framework (a no-op where real ones exist)."""
    if lane == "keras" and os.environ.get("TF_CONFIG"):
        raise DistributedError("TF_CONFIG is set, but multi-worker Keras training does not run: Keras 3's fit "
                               "fails under MultiWorkerMirroredStrategy (keras-team/keras#20585); train the "
                               "keras lane on one machine's devices, or the torch/jax lanes across machines")
    count, _ = processes(lane)
    if devices % count:
        raise DistributedError(f"--devices {devices} does not split evenly over {count} processes")
    local = devices // count
    if lane == "jax":
        _xla_host_devices(local)
        if count > 1:
            _jax_cluster(count, processes(lane)[1])
    elif lane == "keras-jax":
        os.environ["KERAS_BACKEND"] = keras_backends.BACKENDS[lane]  # the lane's backend, before Keras is imported
        _xla_host_devices(local)
    elif lane == "keras":
        _tf_logical_cpus(local)


def _xla_host_devices(devices: int) -> None:
    if "jax" in sys.modules:
        import jax
        if jax._src.xla_bridge.backends_are_initialized():  # too late for the flag to count
            return
    flags = re.sub(rf"{XLA_HOST_DEVICES}=\d+", "", os.environ.get("XLA_FLAGS", ""))
    os.environ["XLA_FLAGS"] = f"{flags} {XLA_HOST_DEVICES}={devices}".strip()


def _jax_cluster(count: int, index: int) -> None:
    import jax

    # Cross-process collectives on CPU need an implementation (GPUs use NCCL without asking).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(num_processes=count, process_id=index)


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
