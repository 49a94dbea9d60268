"""The built-in architectures as every lane builds them, and their framework-neutral weights layout.

One description, three implementations (models/<framework>_lane.py): the sizes, initialisers, padding and
BatchNorm constants below are what make a model trained in one lane comparable with the others, and what let
one set of canonical weights give the same probabilities in all three (tests/models/test_equivalence.py).

Canonical weights: a list of per-layer tuples of float32 arrays, in layer order.
- Dense: (kernel [in, out], bias [out]) -- Keras and Flax layout; torch.nn.Linear stores the transpose.
- Conv: (kernel [H, W, in, out] (HWIO), bias [out]) -- Keras and Flax layout; torch stores OIHW.
  A conv followed by BatchNorm has no bias (BatchNorm's beta makes it redundant): (kernel,).
- BatchNorm: (gamma, beta, moving_mean, moving_variance).
- The first Dense after a Flatten takes its rows in NHWC flatten order (H, W, C); torch flattens NCHW
  (C, H, W), so its lane permutes those rows.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rosetta import contract
from rosetta.core.atomic import write_json

Weights = list[tuple[np.ndarray, ...]]

MLP, CNN = contract.MNIST_MLP.name, contract.MNIST_CNN.name
ARCHITECTURES = (MLP, CNN)

# CNN: Conv 3x3x32 ReLU -> MaxPool 2 -> Conv 3x3x64 (no bias) -> BatchNorm -> ReLU -> MaxPool 2 -> Flatten
# -> Dense 128 ReLU -> Dense 10 softmax. "valid" padding everywhere: 28 -> 26 -> 13 -> 11 -> 5 (the pool
# floors), so the flattened features are 5 * 5 * 64 = 1600.
CONV_FILTERS = (32, 64)
CONV_KERNEL = 3
POOL = 2
CNN_DENSE_UNITS = 128
FEATURE_SIDE = (((contract.IMAGE_SHAPE[0] - CONV_KERNEL + 1) // POOL) - CONV_KERNEL + 1) // POOL
FLAT_FEATURES = FEATURE_SIDE * FEATURE_SIDE * CONV_FILTERS[-1]
# BatchNorm: torch's epsilon (Keras' default is 1e-3: set explicitly everywhere). Momentum in the Keras/Flax
# sense (moving = MOMENTUM * moving + (1 - MOMENTUM) * batch); torch's `momentum` is 1 - this, i.e. 0.1,
# its own default. 0.9 rather than Keras' 0.99: a run of a few epochs needs the statistics to settle fast.
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9

ARCHITECTURE_FILE = "architecture.json"  # beside every checkpoint: which built-in model it holds


def check_architecture(model: str) -> str:
    if model not in ARCHITECTURES:
        raise ValueError(f"unknown model {model!r}; built-in models: {', '.join(ARCHITECTURES)}")
    return model


def weight_shapes(model: str) -> list[tuple[tuple[int, ...], ...]]:
    """The canonical shape of every array, per layer (see the module docstring for the layout)."""
    if check_architecture(model) == MLP:
        sizes = contract.LAYER_SIZES
        return [((i, o), (o,)) for i, o in zip(sizes[:-1], sizes[1:])]
    (c1, c2), k = CONV_FILTERS, CONV_KERNEL
    return [((k, k, 1, c1), (c1,)), ((k, k, c1, c2),), ((c2,),) * 4,
            ((FLAT_FEATURES, CNN_DENSE_UNITS), (CNN_DENSE_UNITS,)),
            ((CNN_DENSE_UNITS, contract.NUM_CLASSES), (contract.NUM_CLASSES,))]


def random_weights(model: str, seed: int) -> Weights:
    """Glorot-uniform kernels and small random biases; for BatchNorm, gamma/beta and moving statistics far
    from their initial 1/0/0/1 so a lane that ignored or mis-ordered any of them would disagree."""
    rng = np.random.default_rng(seed)
    weights: Weights = []
    for shapes in weight_shapes(model):
        if len(shapes) == 4:  # BatchNorm
            (n,) = shapes[0]
            weights.append((rng.uniform(0.5, 1.5, n), rng.uniform(-0.5, 0.5, n),
                            rng.uniform(-1.0, 1.0, n), rng.uniform(0.5, 2.0, n)))
            continue
        kernel_shape = shapes[0]
        receptive = int(np.prod(kernel_shape[:-2]))
        fan_in, fan_out = kernel_shape[-2] * receptive, kernel_shape[-1] * receptive
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        layer = [rng.uniform(-limit, limit, kernel_shape)]
        layer += [rng.uniform(-0.1, 0.1, s) for s in shapes[1:]]
        weights.append(tuple(layer))
    return [tuple(a.astype(np.float32) for a in layer) for layer in weights]


def check_weights(model: str, weights: Weights) -> None:
    """A clear error for weights of another architecture (zip(strict=True) alone would say less)."""
    found = [tuple(np.shape(a) for a in layer) for layer in weights]
    if found != weight_shapes(model):
        raise ValueError(f"{model}: weights of shapes {found}, expected {weight_shapes(model)}")


def torch_dense_rows_from_nhwc(kernel: np.ndarray) -> np.ndarray:
    """Canonical first-Dense kernel [H*W*C, out] (NHWC flatten) -> torch.nn.Linear weight [out, C*H*W]."""
    s, c = FEATURE_SIDE, CONV_FILTERS[-1]
    return kernel.reshape(s, s, c, -1).transpose(3, 2, 0, 1).reshape(kernel.shape[1], -1)


def nhwc_dense_rows_from_torch(weight: np.ndarray) -> np.ndarray:
    """Inverse of torch_dense_rows_from_nhwc."""
    s, c = FEATURE_SIDE, CONV_FILTERS[-1]
    return weight.reshape(-1, c, s, s).transpose(2, 3, 1, 0).reshape(s * s * c, -1)


def write_architecture(directory: Path, model: str) -> None:
    write_json(Path(directory) / ARCHITECTURE_FILE, {"model": check_architecture(model)})


def read_architecture(directory: Path) -> str:
    path = Path(directory) / ARCHITECTURE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; a checkpoint directory records its model there")
    try:
        model = json.loads(path.read_text())["model"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a valid architecture record ({exc!r})") from None
    return check_architecture(model)
