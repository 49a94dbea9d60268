"""Keras zoo entries: a keras.applications MobileNet (NHWC) and a two-input, two-output model."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from rosetta.zoo import inputs  # noqa: E402
from rosetta.zoo.calibrate import CALIBRATION_EXAMPLES, CALIBRATION_SEED_OFFSET, head_affine  # noqa: E402

SEED = 0
MOBILENET_SHAPE = (32, 32, 3)
IMAGE_SHAPE = (16, 16, 3)
TABULAR_FEATURES = 8
CLASSES = 10


def mobilenet_v3_small() -> keras.Model:
    """MobileNetV3Small (hard-swish, squeeze-excite, depthwise conv), random weights, 32x32x3 -> 10 softmax.

    The model rescales [0, 255] pixels itself (include_preprocessing), so its input is raw pixel values.
    """
    keras.utils.set_random_seed(SEED)
    model = keras.applications.MobileNetV3Small(
        input_tensor=keras.Input(MOBILENET_SHAPE, name="image"), alpha=0.75, include_top=True, weights=None,
        classes=CLASSES, classifier_activation="softmax", include_preprocessing=True, name="mobilenet_v3_small")
    calibration = inputs.pixels_nhwc(CALIBRATION_EXAMPLES, MOBILENET_SHAPE, SEED + CALIBRATION_SEED_OFFSET, 255.0)
    _calibrate_batchnorm(model, calibration)
    _calibrate_head(model, "logits", calibration)
    return model


def two_input() -> keras.Model:
    """image [N,16,16,3] + tabular [N,8] -> class probabilities [N,10] and a regression score [N,1]."""
    keras.utils.set_random_seed(SEED)
    image = keras.Input(IMAGE_SHAPE, name="image")
    tabular = keras.Input((TABULAR_FEATURES,), name="tabular")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(image)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    t = keras.layers.Dense(16, activation="tanh")(keras.layers.Normalization(mean=0.0, variance=4.0)(tabular))
    h = keras.layers.Dense(32, activation="relu")(keras.layers.Concatenate()([x, t]))
    logits = keras.layers.Dense(CLASSES, name="logits")(h)
    probabilities = keras.layers.Activation("softmax", name="probabilities")(logits)
    score = keras.layers.Dense(1, name="score")(h)
    model = keras.Model({"image": image, "tabular": tabular}, {"probabilities": probabilities, "score": score},
                        name="two_input")
    seed = SEED + CALIBRATION_SEED_OFFSET
    _calibrate_head(model, "logits", {"image": inputs.pixels_nhwc(CALIBRATION_EXAMPLES, IMAGE_SHAPE, seed),
                                      "tabular": inputs.tabular(CALIBRATION_EXAMPLES, TABULAR_FEATURES, seed + 1)})
    return model


def _calibrate_batchnorm(model: keras.Model, calibration: np.ndarray) -> None:
    """Moving statistics := the calibration batch's statistics (momentum 0 for one training-mode pass).

    In training mode every BatchNorm normalizes with its batch statistics, so after the pass inference mode
    on that batch computes exactly what training mode did: each layer sees the input distribution it is set for.
    """
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    model(calibration, training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


def _calibrate_head(model: keras.Model, layer_name: str, calibration) -> None:
    head = model.get_layer(layer_name)
    logits = keras.Model(model.inputs, head.output)(calibration, training=False)
    logits = np.asarray(logits).reshape(len(np.asarray(logits)), -1)
    scale, shift = head_affine(logits)
    kernel, bias = (np.asarray(w) for w in head.get_weights())
    head.set_weights([kernel * scale, bias * scale + shift])  # scale broadcasts over the output-channel axis
