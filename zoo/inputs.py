"""Deterministic example inputs in the value ranges each model would see in use (not all-zeros, not N(0,1) pixels)."""
from __future__ import annotations

import numpy as np


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def smooth_images(n: int, height: int, width: int, channels: int, seed: int) -> np.ndarray:
    """[n, H, W, C] images in [0, 1] that differ the way photographs do: per-image exposure, contrast and
    colour cast over low-frequency structure (upsampled coarse noise) plus pixel noise. Without the per-image
    terms, global pooling averages white-noise-like images to nearly the same features for every image."""
    rng = _rng(seed)
    coarse = rng.uniform(0.0, 1.0, (n, (height + 3) // 4, (width + 3) // 4, channels))
    structure = coarse.repeat(4, axis=1).repeat(4, axis=2)[:, :height, :width]
    structure = 0.8 * structure + 0.2 * rng.uniform(0.0, 1.0, structure.shape) - 0.5
    contrast = rng.uniform(0.2, 1.0, (n, 1, 1, 1))
    exposure = rng.uniform(0.2, 0.8, (n, 1, 1, 1))
    cast = rng.uniform(-0.2, 0.2, (n, 1, 1, channels))
    return np.clip(exposure + cast + contrast * structure, 0.0, 1.0).astype(np.float32)


def pixels_nhwc(n: int, shape: tuple[int, int, int], seed: int, scale: float = 1.0) -> np.ndarray:
    """NHWC images in [0, scale] (scale 255: raw 8-bit pixel values)."""
    return (smooth_images(n, *shape, seed=seed) * scale).astype(np.float32)


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def normalized_nchw(n: int, shape_chw: tuple[int, int, int], seed: int) -> np.ndarray:
    """NCHW images normalized as torchvision does for ImageNet models: (x - mean) / std, roughly [-2.1, 2.6]."""
    channels, height, width = shape_chw
    image = smooth_images(n, height, width, channels, seed)
    mean, std = IMAGENET_MEAN[:channels], IMAGENET_STD[:channels]
    return np.ascontiguousarray(((image - mean) / std).transpose(0, 3, 1, 2), dtype=np.float32)


def token_embeddings(n: int, tokens: int, width: int, seed: int) -> np.ndarray:
    """[n, T, D] embeddings like an embedding table's output plus positions: N(0, 1) with per-sequence structure."""
    rng = _rng(seed)
    positions = np.sin(np.arange(tokens)[:, None] / 10000 ** (np.arange(width)[None, :] / width))
    return (rng.normal(0.0, 1.0, (n, tokens, width)) + positions).astype(np.float32)


def tabular(n: int, features: int, seed: int) -> np.ndarray:
    """[n, F] standardized-but-skewed features: a mix of gaussian and log-normal columns."""
    rng = _rng(seed)
    x = rng.normal(0.0, 1.0, (n, features))
    x[:, ::2] = rng.lognormal(0.0, 0.5, (n, (features + 1) // 2)) - 1.0
    return x.astype(np.float32)
