"""A few MNIST test images for the demo's "test digit" buttons, with each lane's Python reference output."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rosetta.data import load_split

SOURCE_PROBABILITIES = "source_probabilities.npy"  # written by the export for every lane (test split order)


def first_of_each_class(labels: np.ndarray) -> list[int]:
    return [int(np.flatnonzero(labels == d)[0]) for d in range(10) if (labels == d).any()]


def test_digits(artifacts_dir: Path, lanes: list[str]) -> dict[str, Any]:
    """{"split", "images": [{"index", "label", "pixels": 784 uint8 (divide by 255), "reference": {lane: 10 probs}}]}.

    Pixels are the raw uint8 values: x / 255 in float32 is exactly what rosetta.data hands the models.
    """
    test = load_split("test")
    raw = np.rint(test.images * 255).astype(np.uint8)
    references = {}
    for lane in lanes:
        path = Path(artifacts_dir) / lane / SOURCE_PROBABILITIES
        if path.is_file():
            probs = np.load(path)
            if probs.shape == (len(test), 10):
                references[lane] = probs
    images = []
    for i in first_of_each_class(test.labels):
        images.append({"index": i, "label": int(test.labels[i]), "pixels": raw[i].reshape(-1).tolist(),
                       "reference": {lane: [float(p) for p in probs[i]] for lane, probs in references.items()}})
    return {"split": "test", "images": images}
