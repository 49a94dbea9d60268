"""Validation gates: an artifact counts only if it computes what its source computes, on every example.

Float artifacts: max |diff| <= atol over every output, and 100% argmax agreement on classifier outputs.
`tflite-int8`: >= 99% argmax agreement on classifier outputs and an accuracy drop of at most 0.5 points when
labels are given; an int8 output that is not a classifier is held to a normalised RMSE (RMSE / the source's
standard deviation) of at most 0.1, since int8 cannot meet a float tolerance.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rosetta.core.manifest import Parity
from rosetta.core.spec import ModelSpec

FLOAT_MAX_ABS_DIFF = 1e-5
INT8_MAX_ACCURACY_DROP = 0.005  # 0.5 percentage points
INT8_MIN_ARGMAX_AGREEMENT = 0.99
INT8_MAX_NRMSE = 0.1
INT8_FORMATS = ("tflite-int8", "tflite-int16x8", "tflite-dynamic-int8")  # the quantized formats


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


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float((scores.argmax(axis=-1) == labels).mean())


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(-1) == b.argmax(-1)).mean())


def _compare(name: str, got: np.ndarray, want: np.ndarray) -> dict[str, float]:
    if got.shape != want.shape:
        raise ValueError(f"output {name}: runtime returned shape {list(got.shape)}, the source {list(want.shape)} "
                         "(a changed layout or a dropped dimension)")
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    if not np.isfinite(got64).all():
        raise ValueError(f"output {name}: runtime returned non-finite values")
    diff = np.abs(got64 - want64)
    spread = float(want64.std()) or 1.0
    return {"max_abs_diff": float(diff.max()) if diff.size else 0.0,
            "nrmse": float(np.sqrt((diff ** 2).mean()) / spread) if diff.size else 0.0}


def parity(fmt: str, outputs: Mapping[str, np.ndarray], source: Mapping[str, np.ndarray], spec: ModelSpec,
           labels: np.ndarray | None = None, atol: float = FLOAT_MAX_ABS_DIFF) -> Parity:
    """Compare an artifact's outputs with its source's on the same examples and apply the format's gate."""
    per_output = {t.name: _compare(t.name, np.asarray(outputs[t.name]), np.asarray(source[t.name]))
                  for t in spec.outputs}
    classifiers = [t.name for t in spec.outputs if t.is_classifier]
    agreement = min((_agreement(outputs[n], source[n]) for n in classifiers), default=None)
    head = spec.classifier_output
    acc = accuracy(outputs[head.name], labels) if head is not None and labels is not None else None
    source_acc = accuracy(source[head.name], labels) if head is not None and labels is not None else None
    max_abs_diff = max(o["max_abs_diff"] for o in per_output.values())
    checks: list[Check] = []
    if fmt in INT8_FORMATS:
        if agreement is not None:
            checks.append(Check("argmax_agreement", agreement, INT8_MIN_ARGMAX_AGREEMENT, True))
        if acc is not None:
            checks.append(Check("accuracy_drop", source_acc - acc, INT8_MAX_ACCURACY_DROP, False))
        checks += [Check(f"nrmse[{t.name}]", per_output[t.name]["nrmse"], INT8_MAX_NRMSE, False)
                   for t in spec.outputs if not t.is_classifier]
    else:
        checks.append(Check("max_abs_diff", max_abs_diff, atol, False))
        if agreement is not None:
            checks.append(Check("argmax_agreement", agreement, 1.0, True))
    n = len(next(iter(source.values())))
    return Parity(examples=n, max_abs_diff=max_abs_diff, argmax_agreement=agreement, accuracy=acc,
                  source_accuracy=source_acc, outputs=per_output,
                  gate={c.name: {"value": c.value, "limit": c.limit} for c in checks},
                  passed=all(c.passed for c in checks), failures=[c.shortfall() for c in checks if not c.passed])
