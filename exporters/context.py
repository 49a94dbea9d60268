"""What every converter and validator of one lane gets to see."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rosetta import contract


@dataclass(frozen=True)
class ExportContext:
    lane: str
    source_model: Any  # the lane's trained model, as models.<lane>.load returns it
    representative: np.ndarray  # training-split images for int8 calibration
    warmup: np.ndarray  # a few images for TF Serving warm-up records

    @property
    def model_name(self) -> str:
        return f"mnist-{self.lane}"


INPUT_SPEC = {"name": contract.INPUT_NAME, "shape": [None, *contract.IMAGE_SHAPE], "dtype": "float32"}
OUTPUT_SPEC = {"name": contract.OUTPUT_NAME, "shape": [None, contract.NUM_CLASSES], "dtype": "float32"}
