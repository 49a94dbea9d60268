"""What the three lanes share: training config, batch order, epoch reporting."""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from rosetta import contract

# Every lane initialises kernels Glorot-uniform and biases to zero (Keras' defaults; torch's own default
# init ends about 0.3 points lower after 5 epochs on the MLP), so the lanes differ only in their random
# streams. The architectures and their framework-neutral weights layout: models.architectures.


@dataclass(frozen=True)
class TrainConfig:
    """Adam on a one-cycle schedule: the rate rises linearly from 0 to `learning_rate` over the first `warmup`
    fraction of all steps, then cosine-decays to 0; cross-entropy with `label_smoothing`. The bare defaults are
    the MLP's; `for_model` gives each built-in model its own measured defaults (rosetta.contract.TRAINING)."""
    epochs: int = contract.EPOCHS
    batch_size: int = contract.BATCH_SIZE
    learning_rate: float = contract.LEARNING_RATE
    seed: int = contract.SEED
    warmup: float = contract.WARMUP
    label_smoothing: float = contract.LABEL_SMOOTHING

    @classmethod
    def for_model(cls, model: str, **overrides: Any) -> TrainConfig:
        """The model's defaults; overrides set to None keep the default (CLI flags left out)."""
        if model not in contract.TRAINING:
            raise ValueError(f"unknown model {model!r}; built-in models: {', '.join(contract.TRAINING)}")
        config = replace(cls(), **contract.TRAINING[model])
        return replace(config, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class EpochStats:
    epoch: int
    loss: float
    train_accuracy: float
    seconds: float


@dataclass
class History:
    epochs: list[EpochStats] = field(default_factory=list)

    def as_dicts(self) -> list[dict]:
        return [asdict(e) for e in self.epochs]


EpochCallback = Callable[[EpochStats], None]


def print_epoch(label: str, total_epochs: int) -> EpochCallback:
    """Per-epoch progress line with timing, the same format in every lane; `label` names the run."""
    def report(stats: EpochStats) -> None:
        print(f"[{label}] epoch {stats.epoch}/{total_epochs}  loss {stats.loss:.4f}  "
              f"train-acc {stats.train_accuracy:.4f}  {stats.seconds:.1f}s", flush=True)
    return report


def total_steps(n: int, config: TrainConfig) -> int:
    """Optimizer updates in a run: the horizon of the cosine learning-rate decay."""
    return config.epochs * -(-n // config.batch_size)


def warmup_steps(n: int, config: TrainConfig) -> int:
    return int(round(total_steps(n, config) * config.warmup))


def learning_rate_at(step: int, n: int, config: TrainConfig) -> float:
    """The schedule every lane follows (Keras' CosineDecay with warm-up and optax's warmup_cosine_decay_schedule
    compute the same; torch's LambdaLR calls this)."""
    total, warm = total_steps(n, config), warmup_steps(n, config)
    if step < warm:
        return config.learning_rate * step / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


def shuffled_batches(n: int, batch_size: int, rng: np.random.Generator,
                     multiple_of: int = 1) -> Iterator[np.ndarray]:
    """Index batches over a fresh permutation; the last short batch is kept, cut to a multiple of
    `multiple_of` (data-parallel training splits every global batch evenly over its devices; an empty
    remainder is dropped). The same rng gives the same order whatever `multiple_of` is."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        batch = order[start:start + batch_size]
        batch = batch[:len(batch) - len(batch) % multiple_of]
        if len(batch):
            yield batch


class EpochTimer:
    """Accumulates loss/accuracy over one epoch's batches and times it."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.start = epoch, time.perf_counter()
        self.loss_sum, self.correct, self.seen = 0.0, 0, 0

    def add(self, loss: float, correct: int, count: int) -> None:
        self.loss_sum += loss * count
        self.correct += correct
        self.seen += count

    def stats(self) -> EpochStats:
        return EpochStats(self.epoch, self.loss_sum / self.seen, self.correct / self.seen,
                          time.perf_counter() - self.start)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float((probabilities.argmax(axis=1) == labels).mean())
