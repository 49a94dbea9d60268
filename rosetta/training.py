"""Train one lane end to end: data -> build -> train -> evaluate -> checkpoint + metrics.json."""
from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from models import lane as load_lane
from models.common import TrainConfig, accuracy, print_epoch
from rosetta.atomic import write_json
from rosetta.data import Split
from rosetta.versions import versions


def train_lane(name: str, train: Split, test: Split, config: TrainConfig, out_dir: Path) -> dict[str, Any]:
    """Train lane `name`, write artifacts/<lane>/{checkpoint, metrics.json}; return the metrics."""
    lane = load_lane(name)
    model = lane.build(config.seed)
    start = time.perf_counter()
    model, history = lane.train(model, train.images, train.labels, config, print_epoch(name, config.epochs))
    train_seconds = time.perf_counter() - start
    test_accuracy = accuracy(lane.predict(model, test.images), test.labels)
    lane_dir = Path(out_dir) / name
    checkpoint = lane.save(model, lane_dir)
    metrics = {
        "lane": name,
        "test_accuracy": test_accuracy,
        "train_seconds": round(train_seconds, 3),
        "epochs": config.epochs,
        "seed": config.seed,
        **{k: v for k, v in asdict(config).items() if k not in ("epochs", "seed")},
        "train_examples": len(train),
        "test_examples": len(test),
        "checkpoint": checkpoint.name,
        "history": history.as_dicts(),
        "versions": versions(*lane.DISTRIBUTIONS),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(lane_dir / "metrics.json", metrics)
    return metrics
