"""Make random-weight models behave like trained ones where the export gates can tell the difference.

A freshly initialized network is a poor test subject: its activations can vanish through dozens of layers
(MobileNetV3's reach 1e-11, so every class gets exactly 0.1) and its head bias picks the same class for every
input, which makes argmax agreement trivially 100%. Two data-dependent steps, both common initialization
practice, fix that without training: BatchNorm running statistics set from a calibration batch (what training
leaves behind), and the classifier head rescaled so each class logit has mean 0 and std TEMPERATURE over that
batch (diverse, confident predictions with real top-1/top-2 margins).
"""
from __future__ import annotations

import numpy as np

TEMPERATURE = 2.0
CALIBRATION_EXAMPLES = 64
CALIBRATION_SEED_OFFSET = 1000  # calibration batches never coincide with the example inputs


def head_affine(logits: np.ndarray, temperature: float = TEMPERATURE) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) per class such that `logits * scale + shift` has per-class mean 0 and std `temperature`.

    Applied to a linear head as W' = W * scale (per output column), b' = b * scale + shift.
    """
    logits = np.asarray(logits, np.float64)
    std = logits.std(axis=0)
    if not np.all(std > 0):
        raise ValueError("a class logit is constant over the calibration batch: the features carry no signal")
    scale = temperature / std
    return scale.astype(np.float32), (-logits.mean(axis=0) * scale).astype(np.float32)
