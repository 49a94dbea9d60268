"""Full-size published architectures with random weights, for `make zoo-large`: what a real model costs to export.

- ResNet-50 (He et al. 2015; torchvision's layout: Bottleneck blocks [3, 4, 6, 3], stride on the 3x3 conv,
  25.6M parameters), NCHW ImageNet-normalised images. Defined here: torchvision is not a dependency.
- BERT-base encoder (Devlin et al. 2018: 12 layers, hidden 768, 12 heads, feed-forward 3072, GELU, post-LayerNorm,
  30522-token vocabulary, 512 positions, tanh pooler on the first token; ~110M parameters), token ids in,
  a 2-way classifier head out, built on nn.TransformerEncoder.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

SEED = 0
IMAGE_CHW = (3, 224, 224)
IMAGE_CLASSES = 1000
VOCAB, POSITIONS, HIDDEN, HEADS, LAYERS, FEED_FORWARD = 30522, 512, 768, 12, 12, 3072
SEQUENCE = 128
TEXT_CLASSES = 2


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        width, out = planes, planes * self.expansion
        self.conv1, self.bn1 = nn.Conv2d(inplanes, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + identity)


class ResNet50(nn.Module):
    def __init__(self, classes: int = IMAGE_CLASSES) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.relu, self.maxpool = nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)
        layers, inplanes = [], 64
        for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stage = [Bottleneck(inplanes, planes, stride)]
            inplanes = planes * Bottleneck.expansion
            stage += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512 * Bottleneck.expansion, classes)
        for m in self.modules():  # torchvision's initialisation: He-normal convs, unit BatchNorm
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.softmax(self.fc(torch.flatten(self.avgpool(x), 1)), dim=-1)


class BertBaseClassifier(nn.Module):
    """token_ids [N, T] (int64) -> embeddings + positions -> LayerNorm -> 12 encoder layers -> pooler -> softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, HIDDEN)
        self.positions = nn.Embedding(POSITIONS, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN, eps=1e-12)
        layer = nn.TransformerEncoderLayer(HIDDEN, HEADS, FEED_FORWARD, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=False, layer_norm_eps=1e-12)
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.pooler = nn.Linear(HIDDEN, HIDDEN)
        self.head = nn.Linear(HIDDEN, TEXT_CLASSES)
        for m in self.modules():  # BERT's initialiser: N(0, 0.02)
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(token_ids.shape[1], device=token_ids.device)
        x = self.norm(self.tokens(token_ids) + self.positions(positions)[None])
        pooled = torch.tanh(self.pooler(self.encoder(x)[:, 0]))
        return torch.softmax(self.head(pooled), dim=-1)


def _randomize_batchnorm(model: nn.Module, generator: torch.Generator) -> None:
    """Running statistics like a trained net's, so inference BatchNorm is not the identity."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)


def resnet50() -> nn.Module:
    torch.manual_seed(SEED)
    model = ResNet50()
    _randomize_batchnorm(model, torch.Generator().manual_seed(SEED + 1))
    return model.eval()


def bert_base() -> nn.Module:
    torch.manual_seed(SEED)
    return BertBaseClassifier().eval()


def token_ids(n: int, length: int = SEQUENCE, seed: int = 0) -> np.ndarray:
    """[n, T] ids: a [CLS]-like 101 first, then Zipf-distributed ids as natural text has, below the vocabulary."""
    rng = np.random.default_rng(seed)
    ids = np.minimum(rng.zipf(1.3, (n, length)) + 999, VOCAB - 1).astype(np.int64)
    ids[:, 0] = 101
    return ids


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# A model past 2 GiB of float32 weights (the protobuf and FlatBuffer limits): a wide MLP, 1024 -> 3 x 16384 -> 10,
# 553.8M parameters, 2.22 GB. The same architecture in PyTorch (ONNX with external data, .pt2, TorchScript) and
# Keras (SavedModel, TF.js sharded, and TFLite's refusal).
WIDE_IN, WIDE, WIDE_LAYERS, WIDE_OUT = 1024, 16384, 3, 10


class WideMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        sizes = [WIDE_IN] + [WIDE] * WIDE_LAYERS
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.head = nn.Linear(WIDE, WIDE_OUT)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            features = torch.relu(layer(features))
        return torch.softmax(self.head(features), dim=-1)


def wide_mlp_torch() -> nn.Module:
    torch.manual_seed(SEED)
    return WideMLP().eval()


def wide_mlp_keras():
    import keras

    keras.utils.set_random_seed(SEED)
    features = keras.Input((WIDE_IN,), name="features")
    x = features
    for i in range(WIDE_LAYERS):
        x = keras.layers.Dense(WIDE, activation="relu", name=f"hidden_{i}")(x)
    return keras.Model(features, keras.layers.Dense(WIDE_OUT, activation="softmax", name="head")(x))
