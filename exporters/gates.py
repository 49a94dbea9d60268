"""Validation gates: an artifact counts only if it computes what its source computes, on every example.

Every output of every cell is measured the same way (max |diff|, SQNR in dB, cosine similarity, NRMSE, and its
kind's own metric) and recorded in the manifest; which of those numbers gate the cell depends on the format and on
the output's kind (see `Thresholds`):

- float cells: max |diff| <= atol over every output, and 100% argmax agreement on classifier outputs.
- float16 cells (a format name with "fp16"): per output, max |diff| relative to the source output's largest
  magnitude, and argmax agreement on classifier outputs.
- quantized cells (a format name with "int8" or "int16": they cannot meet a float tolerance), per output kind:
  probabilities / logits: argmax agreement, and the accuracy drop when labels are given;
  multilabel: F1 of the labels thresholded at 0.5 against the source's;
  embedding / regression: cosine similarity and SQNR.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rosetta.core.manifest import Parity
from rosetta.core.spec import ModelSpec, TensorSpec

QUANTIZED_MARKERS = ("int8", "int16")  # a format whose name carries one is held to the quantized gates
HALF_MARKER = "fp16"  # ... and this one to the float16 gates


@dataclass(frozen=True)
class Thresholds:
    """Every gate's limit, overridable per run (`rosetta export --gate NAME=VALUE`)."""
    # Float cells: the same arithmetic in another runtime; float32 reordering stays below this on activations of
    # order 1 (the built-in models' cells measure 1e-6 to 3e-6).
    atol: float = 1e-5
    # Quantized classifiers: the built-in MNIST int8 cells agree on >= 99.5% and lose <= 0.3 points; 99% and
    # 0.5 points leave room for harder inputs than digits.
    argmax_agreement: float = 0.99
    accuracy_drop: float = 0.005
    # Quantized multilabel heads: 1 in 20 flipped decisions (near 0.5) is what int8 sigmoid outputs cost.
    label_f1: float = 0.95
    # Quantized embeddings / regressions: 20 dB SQNR is noise at 10% of the signal's RMS (the normalised RMSE
    # 0.1 int8 regressors were held to before), cosine 0.99 is an angle of 8 degrees per row.
    cosine: float = 0.99
    sqnr_db: float = 20.0
    # float16 cells: 11 significant bits, one rounding is 4.9e-4 relative and it compounds over the layers and the
    # reductions, so an absolute float32 tolerance cannot apply across output scales; a near-tie may flip.
    fp16_scaled_diff: float = 1e-2  # max |diff| / max |source| per output
    fp16_argmax_agreement: float = 0.999

    def override(self, values: Mapping[str, float]) -> Thresholds:
        """These thresholds with some replaced by name; an unknown name is an error naming the valid ones."""
        names = [f.name for f in dataclasses.fields(self)]
        unknown = [k for k in values if k not in names]
        if unknown:
            raise ValueError(f"unknown gate(s) {', '.join(unknown)}; valid: {', '.join(names)}")
        return dataclasses.replace(self, **{k: float(v) for k, v in values.items()})


DEFAULT = Thresholds()
FLOAT_MAX_ABS_DIFF = DEFAULT.atol
INT8_MIN_ARGMAX_AGREEMENT, INT8_MAX_ACCURACY_DROP = DEFAULT.argmax_agreement, DEFAULT.accuracy_drop
FP16_MAX_SCALED_DIFF, FP16_MIN_ARGMAX_AGREEMENT = DEFAULT.fp16_scaled_diff, DEFAULT.fp16_argmax_agreement


def is_quantized(fmt: str) -> bool:
    return any(marker in fmt for marker in QUANTIZED_MARKERS)


def is_half(fmt: str) -> bool:
    return HALF_MARKER in fmt and not is_quantized(fmt)


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


def _label_f1(got: np.ndarray, want: np.ndarray) -> float:
    """Micro F1 of the artifact's labels (> 0.5) against the source's; 1.0 when neither has a positive label."""
    g, w = got > 0.5, want > 0.5
    true_pos, positives = int((g & w).sum()), int(g.sum() + w.sum())
    return 1.0 if positives == 0 else 2.0 * true_pos / positives


def _cosine(got: np.ndarray, want: np.ndarray) -> float:
    """Mean cosine similarity per example (each row flattened); over the whole output when a row is a scalar."""
    if got.ndim < 2 or got[0].size < 2:
        got, want = got.reshape(1, -1), want.reshape(1, -1)
    g, w = got.reshape(len(got), -1), want.reshape(len(want), -1)
    norms = np.linalg.norm(g, axis=1) * np.linalg.norm(w, axis=1)
    both_zero = norms == 0
    cos = np.where(both_zero, 1.0, (g * w).sum(1) / np.where(both_zero, 1.0, norms))
    # one zero row against a non-zero one: cosine 0 (already, as the dot product is 0)
    return float(cos.mean()) if cos.size else 1.0


def sqnr_db(got: np.ndarray, want: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB: the source's power over the error's (inf when equal)."""
    got64, want64 = np.asarray(got, np.float64), np.asarray(want, np.float64)
    noise, signal = float(((got64 - want64) ** 2).sum()), float((want64 ** 2).sum())
    return float("inf") if noise == 0 else float(10 * np.log10(max(signal, 1e-300) / noise))


def metrics(t: TensorSpec, got: np.ndarray, want: np.ndarray) -> dict[str, float | str]:
    """One output's numbers: max |diff| (also relative to the source's largest magnitude), SQNR (dB), cosine,
    NRMSE and its kind's metric."""
    if got.shape != want.shape:
        raise ValueError(f"output {t.name}: runtime returned shape {list(got.shape)}, the source "
                         f"{list(want.shape)} (a changed layout or a dropped dimension)")
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    if not np.isfinite(got64).all():
        raise ValueError(f"output {t.name}: runtime returned non-finite values")
    diff = got64 - want64
    noise = float((diff ** 2).mean()) if diff.size else 0.0
    spread = float(want64.std()) or 1.0
    max_abs_diff = float(np.abs(diff).max()) if diff.size else 0.0
    out: dict[str, float | str] = {
        "kind": t.kind or "regression",
        "max_abs_diff": max_abs_diff,
        "scaled_max_diff": max_abs_diff / ((float(np.abs(want64).max()) if diff.size else 0.0) or 1.0),
        # capped at 200 dB so that an exact match stays a finite JSON number
        "sqnr_db": min(200.0, sqnr_db(got64, want64)),
        "cosine": _cosine(got64, want64),
        "nrmse": float(np.sqrt(noise) / spread)}
    if t.is_classifier:
        out["argmax_agreement"] = _agreement(got64, want64)
    elif t.kind == "multilabel":
        out["label_f1"] = _label_f1(got64, want64)
    return out


def parity(fmt: str, outputs: Mapping[str, np.ndarray], source: Mapping[str, np.ndarray], spec: ModelSpec,
           labels: np.ndarray | None = None, atol: float | None = None,
           thresholds: Thresholds = DEFAULT) -> Parity:
    """Compare an artifact's outputs with its source's on the same examples and apply the format's gate.

    `atol`, when given, overrides `thresholds.atol` (the `--atol` flag)."""
    limits = thresholds if atol is None else dataclasses.replace(thresholds, atol=atol)
    per_output = {t.name: metrics(t, np.asarray(outputs[t.name]), np.asarray(source[t.name])) for t in spec.outputs}
    agreements = [per_output[t.name]["argmax_agreement"] for t in spec.outputs if t.is_classifier]
    agreement = min(agreements, default=None)
    head = spec.classifier_output
    acc = accuracy(outputs[head.name], labels) if head is not None and labels is not None else None
    source_acc = accuracy(source[head.name], labels) if head is not None and labels is not None else None
    max_abs_diff = max(o["max_abs_diff"] for o in per_output.values())
    checks: list[Check] = []
    if is_quantized(fmt):
        if agreement is not None:
            checks.append(Check("argmax_agreement", agreement, limits.argmax_agreement, True))
        if acc is not None:
            checks.append(Check("accuracy_drop", source_acc - acc, limits.accuracy_drop, False))
        for t in spec.outputs:
            m = per_output[t.name]
            if t.kind == "multilabel":
                checks.append(Check(f"label_f1[{t.name}]", m["label_f1"], limits.label_f1, True))
            elif not t.is_classifier:  # embedding, regression, or no kind
                checks += [Check(f"cosine[{t.name}]", m["cosine"], limits.cosine, True),
                           Check(f"sqnr_db[{t.name}]", m["sqnr_db"], limits.sqnr_db, True)]
    elif is_half(fmt):
        checks += [Check(f"scaled_max_diff[{t.name}]", per_output[t.name]["scaled_max_diff"],
                         limits.fp16_scaled_diff, False) for t in spec.outputs]
        if agreement is not None:
            checks.append(Check("argmax_agreement", agreement, limits.fp16_argmax_agreement, True))
    else:
        checks.append(Check("max_abs_diff", max_abs_diff, limits.atol, False))
        if agreement is not None:
            checks.append(Check("argmax_agreement", agreement, 1.0, True))
    n = len(next(iter(source.values())))
    return Parity(examples=n, max_abs_diff=max_abs_diff, argmax_agreement=agreement, accuracy=acc,
                  source_accuracy=source_acc, outputs=per_output,
                  gate={c.name: {"value": c.value, "limit": c.limit} for c in checks},
                  passed=all(c.passed for c in checks), failures=[c.shortfall() for c in checks if not c.passed])
