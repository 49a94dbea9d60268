"""What every converter of one model gets to see: the source, its spec, and example rows."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rosetta.core.spec import ModelSpec
from rosetta.sources import Source


@dataclass(frozen=True)
class ExportContext:
    source: Source
    spec: ModelSpec
    calibration: dict[str, np.ndarray]  # int8 calibration rows, by input name
    warmup: dict[str, np.ndarray]  # a few rows for TF Serving warm-up records, by input name
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)  # node id -> what its converter did

    def note(self, node: str, **facts: Any) -> None:
        """Facts a converter records about the node it wrote (e.g. graph rewrites); the manifest entries of every
        format built through that node carry them."""
        self.notes.setdefault(node, {}).update(facts)

    @property
    def lane(self) -> str:
        return self.source.lane

    @property
    def source_model(self) -> Any:
        return self.source.model

    @property
    def model_name(self) -> str:
        return self.spec.name
