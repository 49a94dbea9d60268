"""What every converter of one model gets to see: the source, its spec, and example rows."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rosetta.core.spec import ModelSpec
from rosetta.exporters.gates import DEFAULT, Thresholds
from rosetta.sources import Source


@dataclass(frozen=True)
class ExportContext:
    source: Source
    spec: ModelSpec
    calibration: dict[str, np.ndarray]  # int8 calibration rows, by input name
    warmup: dict[str, np.ndarray]  # a few rows for TF Serving warm-up records, by input name
    thresholds: Thresholds = DEFAULT  # the run's gates: what a converter searching for a passing artifact aims at

    @property
    def lane(self) -> str:
        return self.source.lane

    @property
    def source_model(self) -> Any:
        return self.source.model

    @property
    def model_name(self) -> str:
        return self.spec.name
