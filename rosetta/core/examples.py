"""Example rows a model is exported with: read from .npy/.npz, split into validation and int8 calibration sets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rosetta.core.spec import SpecError, batch_size

CALIBRATION_SHARE = 5  # one example in five calibrates int8 ...
MIN_CALIBRATION = 300  # ... but at least this many while half the examples are left to validate on ...
MAX_CALIBRATION = 500  # ... and at most this many (the built-in models calibrate on 500 images too)
MIN_SPLIT = 10  # below this, calibration and validation share every example (and the manifest says so)
SPLIT_SEED = 0


@dataclass(frozen=True)
class Examples:
    """Rows by input name: every cell is validated on `validation`; int8 is calibrated on `calibration`."""
    validation: dict[str, np.ndarray]
    calibration: dict[str, np.ndarray]
    labels: np.ndarray | None = None  # of the validation rows, for accuracy
    split: str = ""  # how the two sets were chosen, for the manifest


def load_examples(path: Path | str) -> np.ndarray | dict[str, np.ndarray]:
    """`.npy`: one array (a one-input model); `.npz`: one array per input name."""
    path = Path(path)
    if path.suffix not in (".npy", ".npz"):
        raise SpecError(f"{path}: example inputs must be a .npy or .npz file")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                return {k: data[k] for k in data.files}
        return data
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise SpecError(f"{path}: not a readable numpy file ({exc})") from None


def split_examples(examples: dict[str, np.ndarray], labels: np.ndarray | None) -> Examples:
    """Validation and calibration rows from one example set.

    A seeded random fifth (at least 300 rows or half the examples, whichever is fewer; at most 500) calibrates
    int8 and every other row validates every cell, so no artifact is graded on the rows that calibrated it.
    Below 10 examples both sets are all of them.
    """
    n = batch_size(examples)
    if labels is not None and len(labels) != n:
        raise SpecError(f"labels: {len(labels)} rows, the example inputs have {n}")
    if n < MIN_SPLIT:
        return Examples(examples, examples, labels,
                        f"{n} examples (< {MIN_SPLIT}): calibration and validation use all of them")
    size = min(MAX_CALIBRATION, max(n // CALIBRATION_SHARE, min(MIN_CALIBRATION, n // 2), 1))
    calib = np.sort(np.random.default_rng(SPLIT_SEED).choice(n, size, replace=False))
    keep = np.setdiff1d(np.arange(n), calib)
    return Examples({k: v[keep] for k, v in examples.items()}, {k: v[calib] for k, v in examples.items()},
                    labels[keep] if labels is not None else None,
                    f"{len(keep)} validation / {len(calib)} calibration rows of {n} examples (seeded random split)")
