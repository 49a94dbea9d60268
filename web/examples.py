"""A few validation inputs for the demo's example buttons, each with the source model's output on it.

Which inputs a model was validated on is known to whoever ran the export (the CLI knows the built-in models'
data); the site only needs the arrays: the inputs in validation order and, in the version directory of the
artifacts it offers, `source_outputs.npz` (one array per output, same order) for the Python reference shown next
to the browser's.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_EXAMPLES = 10


@dataclass(frozen=True)
class Examples:
    inputs: np.ndarray  # [N, ...]: the demo's one input, validation order
    labels: np.ndarray | None = None  # [N] class indices, when known
    references: np.ndarray | None = None  # [N, classes]: the source model's classifier output


def from_validation(source_outputs: Path, output: str, inputs: np.ndarray,
                    labels: np.ndarray | None = None) -> Examples:
    """Examples whose references are the export's own record of the source model, `source_outputs` (a version's
    source_outputs.npz), if it matches the inputs."""
    path = Path(source_outputs)
    references = None
    if path.is_file():
        with np.load(path) as saved:
            if output in saved.files and len(saved[output]) == len(inputs):
                references = saved[output]
    return Examples(inputs, labels, references)


def pick(examples: Examples, limit: int = MAX_EXAMPLES) -> list[int]:
    """The first example of each class when labels are known (up to limit classes), else the first few."""
    if examples.labels is None:
        return list(range(min(limit, len(examples.inputs))))
    firsts: dict[int, int] = {}
    for i, label in enumerate(examples.labels.tolist()):
        firsts.setdefault(int(label), i)
    return [firsts[c] for c in sorted(firsts)[:limit]]


def examples_json(examples: Examples, plan: Mapping[str, Any]) -> dict[str, Any]:
    """{"input", "items": [{"index", "label", "values" (flat, float32 exactly), "reference"}]} for demo.js."""
    size = plan["height"] * plan["width"]
    items = []
    for i in pick(examples):
        values = np.asarray(examples.inputs[i], dtype=np.float32).reshape(-1)
        if values.size != size:
            raise ValueError(f"example {i} has {values.size} values; the model's input takes {size}")
        items.append({"index": i, "label": None if examples.labels is None else int(examples.labels[i]),
                      "values": [float(v) for v in values],
                      "reference": None if examples.references is None
                      else [float(v) for v in examples.references[i]]})
    return {"input": plan["input"], "items": items}
