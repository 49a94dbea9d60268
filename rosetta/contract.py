"""The built-in models: their specs (data, like any user model's) and the training defaults measured for them.

Only `models/` (which trains them) and the CLI's built-in paths read this module; exporters, servers and the
site read a model's spec from the manifest.
"""
from __future__ import annotations

from rosetta.core.spec import ModelSpec, TensorSpec

IMAGE_SHAPE = (28, 28)  # float32 in [0, 1], batch dimension in front
NUM_CLASSES = 10
HIDDEN_UNITS = (128, 64)  # MLP: Flatten -> Dense 128 ReLU -> Dense 64 ReLU -> Dense 10 softmax
LAYER_SIZES = (IMAGE_SHAPE[0] * IMAGE_SHAPE[1], *HIDDEN_UNITS, NUM_CLASSES)

_IMAGES = TensorSpec("images", "FP32", (-1, *IMAGE_SHAPE), layout="NHW")
_PROBABILITIES = TensorSpec("probabilities", "FP32", (-1, NUM_CLASSES), kind="probabilities")
MNIST_MLP = ModelSpec("mnist-mlp", (_IMAGES,), (_PROBABILITIES,),
                      "MNIST MLP: Flatten -> Dense 128 ReLU -> Dense 64 ReLU -> Dense 10 softmax")
MNIST_CNN = ModelSpec("mnist-cnn", (_IMAGES,), (_PROBABILITIES,),
                      "MNIST CNN: Conv 3x3x32 ReLU -> MaxPool 2 -> Conv 3x3x64 -> BatchNorm -> ReLU -> MaxPool 2 "
                      "-> Flatten -> Dense 128 ReLU -> Dense 10 softmax")
BUILTIN_MODELS = {spec.name: spec for spec in (MNIST_MLP, MNIST_CNN)}

# keras-jax and keras-torch: the keras lane's code on Keras' JAX and PyTorch backends (models/__init__.py).
LANES = ("keras", "torch", "jax", "keras-jax", "keras-torch")
# Artifact formats (the export graph in exporters/graph.py says which lane reaches which, and how).
FORMATS = ("savedmodel", "tflite-fp32", "tflite-int8", "tflite-int16x8", "tflite-dynamic-int8", "tfjs", "onnx",
           "torchscript", "pt2", "savedmodel-xla",
           # reduced-precision variants and further runtimes (exporters/graph.py: one edge each)
           "tflite-fp16", "onnx-fp16", "onnx-int8", "openvino", "executorch")


# Formats the built-in export leaves out unless asked for (`--format`): int16x8 runs on LiteRT's reference
# int16 kernels (no XNNPACK), 32 s to validate the CNN on the 10,000 test images against 0.7-1.2 s for int8.
OPT_IN_FORMATS = ("tflite-int16x8",)


def served_name(model: str, lane: str) -> str:
    """A built-in model trained in one lane is served, stored and listed as e.g. `mnist-cnn-torch`."""
    return f"{model}-{lane}"


# Training defaults per built-in model (models.common.TrainConfig.for_model): Adam, cosine-decayed to 0 over
# the run.
#
# mnist-mlp: Adam at 1e-3, 5 epochs, batch 16.
# Measured here (JAX lane, 4 seeds; Keras and torch one each): with a constant rate, batch 32 ends at
# 97.1-97.6% test accuracy; cosine decay lifts batch 32 to 97.8-98.1%, too close to the 98% bar, and
# batch 16 to 98.0-98.2% in every lane. Smaller batches cost wall time (per-step overhead dominates a
# model this small), so 16 is the largest batch that clears the bar with margin.
LEARNING_RATE = 1e-3
EPOCHS = 5
BATCH_SIZE = 16
SEED = 20261127

# mnist-cnn: Adam at 1e-3 cosine-decayed to 0, 3 epochs, batch 64: the only setting measured to clear 99% in
# every lane; torch by 0.03 points only (one seed), so a 4-epoch or second-seed run is the next measurement.
# Measured here (one seed each, full data, `rosetta train --model mnist-cnn`; wall times on a 2-core machine
# shared with other jobs, so CPU seconds are the steadier cost):
#   2 epochs, batch 128, lr 2e-3: jax 98.92% (136 CPU-s), keras 99.01% (73 CPU-s)
#   3 epochs, batch 128, lr 2e-3: torch 98.98% (188 CPU-s; unloaded, an epoch took 11.8 s wall)
#   3 epochs, batch  64, lr 1e-3: torch 99.03% (345 CPU-s), jax 99.16% (202 CPU-s), keras 99.20% (114 CPU-s)
#   (torch: train accuracy 99.40%, so its gap to the bar is generalisation, not under-training)
# Unloaded, an epoch costs ~12-35 s wall per lane. `make test` trains the CNN on a slice (tests/conftest.py).
CNN_LEARNING_RATE = 1e-3
CNN_EPOCHS = 3
CNN_BATCH_SIZE = 64

TRAINING = {
    MNIST_MLP.name: {"epochs": EPOCHS, "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE},
    MNIST_CNN.name: {"epochs": CNN_EPOCHS, "batch_size": CNN_BATCH_SIZE, "learning_rate": CNN_LEARNING_RATE},
}
# The test accuracy each built-in model must reach in every lane (the training summary flags a miss).
ACCURACY_BAR = {MNIST_MLP.name: 0.98, MNIST_CNN.name: 0.99}
