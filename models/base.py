"""The interface every framework lane implements (rosetta.models.keras_lane, torch_lane, jax_lane): one shape for
building, training, running, saving and handing a model to the exporter, whatever the framework."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rosetta.models.architectures import Weights
from rosetta.models.common import EpochCallback, History, TrainConfig


class Lane(Protocol):
    CHECKPOINT: str  # the checkpoint's file name inside the model directory
    DISTRIBUTIONS: tuple[str, ...]  # whose versions metrics.json records

    def build(self, model: str = ..., seed: int = ...) -> Any:
        """A fresh, initialised built-in architecture (`model`: mnist-mlp | mnist-cnn)."""

    def train(self, model: Any, images: np.ndarray, labels: np.ndarray, config: TrainConfig,
              on_epoch: EpochCallback | None = None) -> tuple[Any, History]:
        """The model trained with the model's recipe; its per-epoch history."""

    def predict(self, model: Any, images: np.ndarray, batch_size: int = ...) -> np.ndarray:
        """Class probabilities [N, 10]."""

    def export_source(self, model: Any) -> Any:
        """What rosetta.sources.detect takes: a keras.Model, a torch.nn.Module or a JaxFunction."""

    def save(self, model: Any, directory: Path) -> Path:
        """Write the checkpoint into `directory` (atomically); returns its path."""

    def load(self, directory: Path) -> Any:
        """The model saved in `directory`."""

    def get_weights(self, model: Any) -> Weights:
        """Every layer's arrays in the shared order (kernels in the lane's own layout, converted by the caller)."""

    def set_weights(self, model: Any, weights: Weights) -> Any:
        """The model with `weights` (as get_weights returns them) loaded."""
