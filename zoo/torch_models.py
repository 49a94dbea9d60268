"""PyTorch zoo entries: a transformer encoder classifier, an NCHW conv net, a two-input model."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rosetta.zoo import inputs
from rosetta.zoo.calibrate import CALIBRATION_EXAMPLES, CALIBRATION_SEED_OFFSET, head_affine

SEED = 0
TOKENS, WIDTH, HEADS, LAYERS = 16, 32, 4, 2
IMAGE_CHW = (3, 32, 32)
FEATURES = 6
CLASSES = 10


class TransformerClassifier(nn.Module):
    """[N, T, D] float tokens -> nn.TransformerEncoder (self-attention, LayerNorm, GELU) -> mean-pool -> softmax."""

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(WIDTH, HEADS, dim_feedforward=2 * WIDTH, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=False)
        # enable_nested_tensor only matters for padding masks, which this model does not take.
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.head = nn.Linear(WIDTH, CLASSES)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.encoder(tokens).mean(dim=1)), dim=-1)


class ConvNet(nn.Module):
    """[N, 3, 32, 32] NCHW images -> Conv/BatchNorm/ReLU/MaxPool x2 -> AdaptiveAvgPool -> Linear -> softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16, CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.features(images)), dim=-1)


class TwoInput(nn.Module):
    """images [N, 3, 32, 32] (NCHW) + features [N, 6] -> class probabilities [N, 10]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten())
        self.dense = nn.Sequential(nn.Linear(FEATURES, 8), nn.Tanh())
        self.head = nn.Linear(16, CLASSES)

    def forward(self, images: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(torch.cat([self.conv(images), self.dense(features)], dim=1)), dim=-1)


def _randomize_batchnorm(model: nn.Module, generator: torch.Generator) -> None:
    """Non-trivial running statistics and affine terms, so inference-mode BatchNorm is not the identity."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)


def _calibrate_head(model: nn.Module, calibration: tuple[np.ndarray, ...]) -> None:
    """Rescale `model.head` (the Linear before the softmax) so class logits are spread out (zoo.calibrate)."""
    captured = []
    hook = model.head.register_forward_hook(lambda module, args, out: captured.append(out.detach().numpy()))
    with torch.inference_mode():
        model(*(torch.from_numpy(x) for x in calibration))
    hook.remove()
    scale, shift = head_affine(captured[0])
    with torch.no_grad():
        model.head.weight.mul_(torch.from_numpy(scale)[:, None])
        model.head.bias.copy_(model.head.bias * torch.from_numpy(scale) + torch.from_numpy(shift))


def _seeded(cls: type[nn.Module], calibration: tuple[np.ndarray, ...]) -> nn.Module:
    torch.manual_seed(SEED)
    model = cls().eval()
    _randomize_batchnorm(model, torch.Generator().manual_seed(SEED + 1))
    _calibrate_head(model, calibration)
    return model


_CALIBRATION_SEED = SEED + CALIBRATION_SEED_OFFSET


def transformer_classifier() -> nn.Module:
    return _seeded(TransformerClassifier,
                   (inputs.token_embeddings(CALIBRATION_EXAMPLES, TOKENS, WIDTH, _CALIBRATION_SEED),))


def conv_net() -> nn.Module:
    return _seeded(ConvNet, (inputs.normalized_nchw(CALIBRATION_EXAMPLES, IMAGE_CHW, _CALIBRATION_SEED),))


def two_input() -> nn.Module:
    return _seeded(TwoInput, (inputs.normalized_nchw(CALIBRATION_EXAMPLES, IMAGE_CHW, _CALIBRATION_SEED),
                              inputs.tabular(CALIBRATION_EXAMPLES, FEATURES, _CALIBRATION_SEED + 1)))
