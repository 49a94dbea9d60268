"""Validation gates: an artifact counts only if it computes what its source computes, on all test images."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.common import accuracy

FLOAT_MAX_ABS_DIFF = 1e-5
INT8_MAX_ACCURACY_DROP = 0.005  # 0.5 percentage points
INT8_MIN_ARGMAX_AGREEMENT = 0.99


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    limit: float
    higher_is_better: bool

    @property
    def passed(self) -> bool:
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def shortfall(self) -> str:
        op = ">=" if self.higher_is_better else "<="
        return f"{self.name} {self.value:.6g} (needs {op} {self.limit:.6g})"


def parity(fmt: str, probs: np.ndarray, source: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Compare an artifact's test-set probabilities with its source's and apply the format's gate."""
    if probs.shape != source.shape or not np.isfinite(probs).all():
        raise ValueError(f"runtime returned shape {probs.shape} (finite: {np.isfinite(probs).all()}), "
                         f"expected {source.shape} finite")
    max_abs_diff = float(np.abs(probs - source).max())
    agreement = float((probs.argmax(1) == source.argmax(1)).mean())
    acc, source_acc = accuracy(probs, labels), accuracy(source, labels)
    if fmt == "tflite-int8":
        checks = [Check("accuracy_drop", source_acc - acc, INT8_MAX_ACCURACY_DROP, False),
                  Check("argmax_agreement", agreement, INT8_MIN_ARGMAX_AGREEMENT, True)]
    else:
        checks = [Check("max_abs_diff", max_abs_diff, FLOAT_MAX_ABS_DIFF, False),
                  Check("argmax_agreement", agreement, 1.0, True)]
    return {"max_abs_diff": max_abs_diff, "argmax_agreement": agreement, "accuracy": acc,
            "source_accuracy": source_acc, "images": int(len(labels)),
            "gate": {c.name: {"value": c.value, "limit": c.limit} for c in checks},
            "passed": all(c.passed for c in checks),
            "failures": [c.shortfall() for c in checks if not c.passed]}
