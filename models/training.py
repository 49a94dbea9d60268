"""Train one built-in model in one lane end to end: data -> build -> train -> evaluate -> checkpoint + metrics."""
from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rosetta.contract import served_name
from rosetta.core.atomic import write_json
from rosetta.core.tool_versions import versions
from rosetta.mnist import Split
from rosetta.models import lane as load_lane
from rosetta.models.common import TrainConfig, accuracy, print_epoch
from rosetta.models.run_key import key_digest

METRICS = "metrics.json"
SINGLE_DEVICE = "single device"


def train_lane(model: str, name: str, train: Split, test: Split, config: TrainConfig,
               out_dir: Path, devices: int = 1, key: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train `model` in lane `name`, write <out_dir>/<served name>/{checkpoint, architecture.json, metrics.json};
    return the metrics. `devices` > 1 trains data-parallel on the lane's engine (models.distributed), in a
    process whose devices models.distributed.devices configured; only the writer (rank 0) writes. `key`
    (models.run_key) is recorded with the metrics: `rosetta train` skips a run whose key is unchanged."""
    lane = load_lane(name)
    model_name = served_name(model, name)
    built = lane.build(model, config.seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    if devices == 1:
        engine, writes = SINGLE_DEVICE, True
        trained, history = lane.train(built, train.images, train.labels, config,
                                      print_epoch(model_name, config.epochs))
    else:
        from rosetta.models.distributed import engine_module
        parallel = engine_module(name)
        engine, writes = parallel.engine(devices), parallel.is_writer()
        report = print_epoch(f"{model_name} x{devices}", config.epochs) if writes else None
        trained, history = parallel.train(built, train.images, train.labels, config, devices, report)
    train_seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    test_accuracy = accuracy(lane.predict(trained, test.images), test.labels)
    model_dir = Path(out_dir) / model_name
    metrics = {
        "model": model,
        "model_name": model_name,
        "lane": name,
        "devices": devices,
        "engine": engine,
        "test_accuracy": test_accuracy,
        "train_seconds": round(train_seconds, 3),
        # CPU seconds of all threads: on a shared machine wall time says more about the neighbours.
        "train_cpu_seconds": round(cpu_seconds, 3),
        "epochs": config.epochs,
        "seed": config.seed,
        **{k: v for k, v in asdict(config).items() if k not in ("epochs", "seed")},
        "train_examples": len(train),
        "test_examples": len(test),
        "checkpoint": lane.CHECKPOINT,
        "history": history.as_dicts(),
        "versions": versions(*lane.DISTRIBUTIONS),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **({"run_key": key_digest(key), "run_inputs": key} if key is not None else {}),
    }
    if writes:
        lane.save(trained, model_dir)
        write_json(model_dir / METRICS, metrics)
    return metrics
