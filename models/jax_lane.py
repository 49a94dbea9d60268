"""JAX lane: the built-in architectures as Flax (linen) modules (NHWC), Optax Adam, one compiled scan per epoch."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

from rosetta import contract
from rosetta.core.atomic import atomic_file
from rosetta.jax_function import JaxFunction
from rosetta.models import architectures as arch
from rosetta.models.architectures import Weights
from rosetta.models.common import (
    EpochCallback,
    EpochTimer,
    History,
    TrainConfig,
    shuffled_batches,
    total_steps,
    warmup_steps,
)

CHECKPOINT = "params.msgpack"  # Flax variables {"params", "batch_stats"}, flax.serialization msgpack
DISTRIBUTIONS = ("jax", "jaxlib", "flax", "optax")

INIT = nn.initializers.glorot_uniform()  # the Keras default, shared by every lane (see models.architectures)
MLP_LAYERS = tuple(f"dense_{i}" for i in range(len(contract.LAYER_SIZES) - 1))
CNN_LAYERS = ("conv_0", "conv_1", "norm", "dense_0", "dense_1")


class MLPModule(nn.Module):
    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        """Logits; `probabilities_fn` adds the softmax the served model applies."""
        x = images.reshape((images.shape[0], -1))
        for name, units in zip(MLP_LAYERS[:-1], contract.HIDDEN_UNITS):
            x = nn.relu(nn.Dense(units, name=name, kernel_init=INIT)(x))
        return nn.Dense(contract.NUM_CLASSES, name=MLP_LAYERS[-1], kernel_init=INIT)(x)


class CNNModule(nn.Module):
    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        """Logits. BatchNorm normalises with the batch's statistics (and updates the running ones) when
        training, with the running statistics otherwise."""
        (c1, c2), k, pool = arch.CONV_FILTERS, arch.CONV_KERNEL, (arch.POOL, arch.POOL)
        x = images[..., None]  # NHWC
        x = nn.relu(nn.Conv(c1, (k, k), padding="VALID", kernel_init=INIT, name=CNN_LAYERS[0])(x))
        # keyword arguments: jax2onnx patches max_pool with a keyword-only signature while it traces
        x = nn.max_pool(x, window_shape=pool, strides=pool, padding="VALID")
        x = nn.Conv(c2, (k, k), padding="VALID", use_bias=False, kernel_init=INIT, name=CNN_LAYERS[1])(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=arch.BN_MOMENTUM, epsilon=arch.BN_EPSILON,
                         name=CNN_LAYERS[2])(x)
        x = nn.max_pool(nn.relu(x), window_shape=pool, strides=pool, padding="VALID")
        x = x.reshape((x.shape[0], -1))  # NHWC flatten order: the canonical one
        x = nn.relu(nn.Dense(arch.CNN_DENSE_UNITS, kernel_init=INIT, name=CNN_LAYERS[3])(x))
        return nn.Dense(contract.NUM_CLASSES, kernel_init=INIT, name=CNN_LAYERS[4])(x)


_MODULES: dict[str, type[nn.Module]] = {arch.MLP: MLPModule, arch.CNN: CNNModule}
# Whether a whole epoch runs as one lax.scan. It pays for the MLP, whose ~0.2 ms steps cost less than
# dispatching them; for the CNN, XLA:CPU runs the convolutions inside the scan's loop about 4.7x slower
# than in a jitted step called per batch (measured at batch 128: 694 vs 148 CPU-ms a step).
SCAN_EPOCHS = {arch.MLP: True, arch.CNN: False}


@dataclass
class Model:
    """Flax keeps variables outside the module: this pairs them with the architecture's name."""
    architecture: str
    variables: dict[str, Any]  # {"params": ..., "batch_stats": ...} (batch_stats empty for the MLP)

    @property
    def module(self) -> nn.Module:
        return _MODULES[self.architecture]()

    @property
    def params(self) -> Any:
        return self.variables["params"]


@cache
def probabilities_fn(model: str) -> Callable[[Any, jax.Array], jax.Array]:
    """The pure function the exporters trace: (variables, images [B, 28, 28]) -> softmax [B, 10],
    inference mode (BatchNorm uses its running statistics)."""
    module = _MODULES[arch.check_architecture(model)]()

    def probabilities(variables: Any, images: jax.Array) -> jax.Array:
        return jax.nn.softmax(module.apply(variables, images), axis=-1)
    return probabilities


@cache
def _jit_probabilities(model: str) -> Callable[[Any, jax.Array], jax.Array]:
    return jax.jit(probabilities_fn(model))


def build(model: str = arch.MLP, seed: int = contract.SEED) -> Model:
    dummy = jnp.zeros((1, *contract.IMAGE_SHAPE), jnp.float32)
    variables = dict(_MODULES[arch.check_architecture(model)]().init(jax.random.PRNGKey(seed), dummy))
    variables.setdefault("batch_stats", {})
    return Model(model, variables)


TrainStep = Callable[..., tuple[Any, Any, Any, jax.Array, jax.Array]]


def make_train_step(module: nn.Module, optimizer: optax.GradientTransformation,
                    label_smoothing: float = 0.0) -> TrainStep:
    """One Adam update on a batch: (params, batch_stats, opt_state, images, labels) ->
    (params, batch_stats, opt_state, loss, correct). Not jitted here."""
    def step(params, batch_stats, opt_state, images, labels):
        def loss_fn(p):
            logits, updates = module.apply({"params": p, "batch_stats": batch_stats}, images, train=True,
                                           mutable=["batch_stats"])
            if label_smoothing:
                targets = optax.smooth_labels(jax.nn.one_hot(labels, contract.NUM_CLASSES), label_smoothing)
                loss = optax.softmax_cross_entropy(logits, targets).mean()
            else:
                loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
            return loss, (logits, updates.get("batch_stats", batch_stats))
        (loss, (logits, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        correct = jnp.sum(jnp.argmax(logits, -1) == labels)
        return optax.apply_updates(params, updates), new_stats, opt_state, loss, correct
    return step


def make_epoch(step: TrainStep) -> Callable:
    """A whole epoch of train steps in one compiled call: lax.scan over [steps, batch, ...] arrays.
    Dispatching 3,750 tiny steps one by one costs more than computing them (1.1 ms vs ~0.2 ms a step here)."""
    def run_epoch(params, batch_stats, opt_state, images, labels):
        def body(carry, batch):
            *carry, loss, correct = step(*carry, *batch)
            return tuple(carry), (loss, correct)
        carry, (losses, corrects) = jax.lax.scan(body, (params, batch_stats, opt_state), (images, labels))
        return *carry, losses, corrects
    return jax.jit(run_epoch)


def make_optimizer(config: TrainConfig, examples: int) -> optax.GradientTransformation:
    """Adam on the shared warm-up + cosine schedule: the lane's optimizer, on one device or many."""
    total, warm = total_steps(examples, config), warmup_steps(examples, config)
    if not warm:
        return optax.adam(optax.cosine_decay_schedule(config.learning_rate, total))
    return optax.adam(optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, warm, total, 0.0))


class Placement(Protocol):
    """Where training puts its arrays. The step functions are the same on one device or a mesh: jax.jit
    follows its inputs' shardings (models.distributed.jax_dp shards batches over devices)."""
    multiple_of: int  # every batch's size must be a multiple of this

    def state(self, tree: Any) -> Any: ...

    def batch(self, array: np.ndarray, stacked: bool) -> Any: ...


class DefaultDevice:
    """One device: arrays stay where jax puts them."""
    multiple_of = 1

    def state(self, tree: Any) -> Any:
        return tree

    def batch(self, array: np.ndarray, stacked: bool) -> Any:
        return array


def train(model: Model, images: np.ndarray, labels: np.ndarray, config: TrainConfig,
          on_epoch: EpochCallback | None = None,
          placement: Placement = DefaultDevice()) -> tuple[Model, History]:
    rng = np.random.default_rng(config.seed)
    optimizer = make_optimizer(config, len(labels))
    step = make_train_step(model.module, optimizer, config.label_smoothing)
    run_epoch, run_step = make_epoch(step), jax.jit(step)
    params = placement.state(model.variables["params"])
    batch_stats = placement.state(model.variables["batch_stats"])
    opt_state = placement.state(optimizer.init(params))
    labels32 = labels.astype(np.int32)
    history = History()
    for epoch in range(1, config.epochs + 1):
        timer = EpochTimer(epoch)
        batches = list(shuffled_batches(len(labels), config.batch_size, rng, placement.multiple_of))
        full = [b for b in batches if len(b) == config.batch_size] if SCAN_EPOCHS[model.architecture] else []
        if full:
            idx = np.stack(full)
            params, batch_stats, opt_state, losses, corrects = run_epoch(
                params, batch_stats, opt_state, placement.batch(images[idx], True),
                placement.batch(labels32[idx], True))
            for loss, correct in zip(np.asarray(losses), np.asarray(corrects)):
                timer.add(float(loss), int(correct), config.batch_size)
        for idx in batches[len(full):]:  # the short last batch, if any (every batch without the scan)
            params, batch_stats, opt_state, loss, correct = run_step(
                params, batch_stats, opt_state, placement.batch(images[idx], False),
                placement.batch(labels32[idx], False))
            timer.add(float(loss), int(correct), len(idx))
        history.epochs.append(timer.stats())
        if on_epoch:
            on_epoch(history.epochs[-1])
    return Model(model.architecture, {"params": params, "batch_stats": batch_stats}), history


def predict(model: Model, images: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    fn = _jit_probabilities(model.architecture)
    out = [np.asarray(fn(model.variables, images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float32)


def export_source(model: Model) -> JaxFunction:
    return JaxFunction(probabilities_fn(model.architecture), jax.device_get(model.variables))


def save(model: Model, directory: Path) -> Path:
    path = Path(directory) / CHECKPOINT
    with atomic_file(path) as tmp:
        tmp.write_bytes(serialization.to_bytes(jax.device_get(model.variables)))
    arch.write_architecture(directory, model.architecture)
    return path


def load(directory: Path) -> Model:
    template = build(arch.read_architecture(directory), 0)
    variables = serialization.from_bytes(template.variables, (Path(directory) / CHECKPOINT).read_bytes())
    return Model(template.architecture, dict(variables))


def _layer_names(model: str) -> tuple[str, ...]:
    return MLP_LAYERS if model == arch.MLP else CNN_LAYERS


def get_weights(model: Model) -> Weights:
    params, stats = model.variables["params"], model.variables["batch_stats"]
    weights: Weights = []
    for name in _layer_names(model.architecture):
        layer = params[name]
        if name in stats:  # BatchNorm
            arrays = (layer["scale"], layer["bias"], stats[name]["mean"], stats[name]["var"])
        else:
            arrays = (layer["kernel"], layer["bias"]) if "bias" in layer else (layer["kernel"],)
        weights.append(tuple(np.asarray(a, dtype=np.float32) for a in arrays))
    return weights


def set_weights(model: Model, weights: Weights) -> Model:
    arch.check_weights(model.architecture, weights)
    params: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    for name, arrays in zip(_layer_names(model.architecture), weights, strict=True):
        arrays = tuple(jnp.asarray(a) for a in arrays)
        if len(arrays) == 4:  # BatchNorm
            params[name] = {"scale": arrays[0], "bias": arrays[1]}
            stats[name] = {"mean": arrays[2], "var": arrays[3]}
        else:
            params[name] = {"kernel": arrays[0], **({"bias": arrays[1]} if len(arrays) == 2 else {})}
    return Model(model.architecture, {"params": params, "batch_stats": stats})
