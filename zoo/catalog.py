"""The zoo: what each model is, where its factory lives (a `rosetta export --model` SOURCE) and its inputs."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rosetta.zoo import inputs

EXAMPLES = 320  # rows per model: 256 validate every cell, 64 calibrate int8 (a 1-in-5 split), enough that one
# flipped answer is 0.4% of the int8 agreement, not the 2% that would fail the 99% gate on its own


@dataclass(frozen=True)
class ZooModel:
    name: str  # the exported model's --name
    lane: str  # "keras" | "torch" | "jax"
    source: str  # package.module:factory
    make_inputs: Callable[[int], dict[str, np.ndarray]]  # batch size -> named inputs, in the model's input order
    output_shapes: tuple[tuple[int, ...], ...]  # per output, in output order, without the batch dimension
    layouts: dict[str, str]  # input name -> axis letters, for image inputs
    classifier_outputs: tuple[int, ...] = (0,)  # indices of the outputs that are class probabilities
    description: str = ""
    # Float gate override (rosetta export --atol): None keeps the exporter's default. Set only where the
    # de-risk run (zoo/DERISK.md) measured float32 reordering noise above it with 100% argmax agreement.
    atol: float | None = None
    # Cells an upstream tool cannot deliver for this model: format -> (text of the failure, the upstream reason).
    known_limits: dict[str, tuple[str, str]] = field(default_factory=dict)

    def example_inputs(self, n: int = EXAMPLES) -> dict[str, np.ndarray]:
        return self.make_inputs(n)


ZOO: tuple[ZooModel, ...] = (
    ZooModel("zoo-mobilenet-v3-keras", "keras", "rosetta.zoo.keras_models:mobilenet_v3_small",
             lambda n: {"image": inputs.pixels_nhwc(n, (32, 32, 3), seed=1, scale=255.0)},
             ((10,),), {"image": "NHWC"},
             description="keras.applications MobileNetV3Small alpha 0.75, 32x32x3 raw pixels, 10-way softmax",
             atol=1e-4),  # 2.5-3.7e-5 in every float runtime vs Keras (256 examples), argmax 100%: float32 order
    ZooModel("zoo-two-input-keras", "keras", "rosetta.zoo.keras_models:two_input",
             lambda n: {"image": inputs.pixels_nhwc(n, (16, 16, 3), seed=2), "tabular": inputs.tabular(n, 8, seed=3)},
             ((10,), (1,)), {"image": "NHWC"},
             description="image + tabular vector -> class probabilities + a regression score"),
    ZooModel("zoo-transformer-torch", "torch", "rosetta.zoo.torch_models:transformer_classifier",
             lambda n: {"tokens": inputs.token_embeddings(n, 16, 32, seed=4)},
             ((10,),), {},
             # exact GELU: TF lowers it to Erfc, rewritten to 1 - Erf for TF.js (exporters/tfjs_compat.py)
             description="nn.TransformerEncoder (2 layers, 4 heads, D=32, GELU, LayerNorm) -> mean-pool -> softmax"),
    ZooModel("zoo-convnet-torch", "torch", "rosetta.zoo.torch_models:conv_net",
             lambda n: {"images": inputs.normalized_nchw(n, (3, 32, 32), seed=5)},
             ((10,),), {"images": "NCHW"},
             description="Conv2d/BatchNorm2d/ReLU/MaxPool x2 -> AdaptiveAvgPool -> Linear -> softmax, NCHW"),
    ZooModel("zoo-two-input-torch", "torch", "rosetta.zoo.torch_models:two_input",
             lambda n: {"images": inputs.normalized_nchw(n, (3, 32, 32), seed=6), "features": inputs.tabular(n, 6, 7)},
             ((10,),), {"images": "NCHW"},
             description="NCHW image + feature vector -> class probabilities"),
    ZooModel("zoo-resnet-jax", "jax", "rosetta.zoo.jax_models:resnet",
             lambda n: {"images": inputs.pixels_nhwc(n, (32, 32, 3), seed=8)},
             ((10,),), {"images": "NHWC"},
             description="Flax ResNet: stem + 2 basic blocks (BatchNorm inference, residual), GAP, Dense, softmax",
             atol=1e-4),  # TFLite 1.6e-5, TF.js 1.7e-5 vs JAX, argmax 100%, with or without oneDNN
)


def by_name(name: str) -> ZooModel:
    for model in ZOO:
        if model.name == name:
            return model
    raise KeyError(f"no zoo model {name!r}; zoo: {', '.join(m.name for m in ZOO)}")
