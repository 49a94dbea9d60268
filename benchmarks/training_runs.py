"""Training cost, accuracy spread and reproducibility of the built-in recipes, per lane.

    python -m benchmarks.training_runs --seeds 20261127 1 2 [--lanes torch jax] [--models mnist-cnn]
        [--out DIR] [--repeat]

Each (lane, seed) trains through the real CLI (`rosetta train --force`) into DIR/seed-<S>/; `--repeat` trains the
first seed a second time into DIR/repeat/ and compares the two checkpoints' weights bit for bit (in a child
process per lane: Keras fixes its backend per process). Prints a Markdown table and writes DIR/training_runs.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rosetta import contract


def _train(out: Path, lane: str, models: list[str], seed: int) -> float:
    model = models[0] if len(models) == 1 else "all"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rosetta.cli", "--out", str(out), "train", "--force", "--lane", lane,
                    "--model", model, "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _metrics(out: Path, model: str, lane: str) -> dict:
    return json.loads((out / contract.served_name(model, lane) / "metrics.json").read_text())


def same_weights(lane: str, a: Path, b: Path) -> bool:
    """Whether two checkpoints of `lane` hold bit-identical arrays (run in a process whose Keras fits the lane)."""
    code = ("import sys, numpy as np; from rosetta.models import lane; L = lane(sys.argv[1]); "
            "wa, wb = (L.get_weights(L.load(p)) for p in sys.argv[2:]); "
            "print(all(np.array_equal(x, y) for la, lb in zip(wa, wb) for x, y in zip(la, lb)))")
    from rosetta.keras_backends import child_env
    from rosetta.models import keras_backend

    backend = keras_backend(lane)
    env = child_env(backend) if backend else dict(os.environ)
    out = subprocess.run([sys.executable, "-c", code, lane, str(a), str(b)], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip().endswith("True")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[contract.SEED, 1, 2])
    parser.add_argument("--lanes", nargs="+", default=list(contract.LANES))
    parser.add_argument("--models", nargs="+", default=list(contract.BUILTIN_MODELS))
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/training"))
    parser.add_argument("--repeat", action="store_true", help="train the first seed again and compare weights")
    args = parser.parse_args()
    rows = []
    for lane in args.lanes:
        for seed in args.seeds:
            _train(args.out / f"seed-{seed}", lane, args.models, seed)
        identical = None
        if args.repeat:
            _train(args.out / "repeat", lane, args.models, args.seeds[0])
        for model in args.models:
            runs = [_metrics(args.out / f"seed-{s}", model, lane) for s in args.seeds]
            if args.repeat:
                name = contract.served_name(model, lane)
                identical = same_weights(lane, args.out / f"seed-{args.seeds[0]}" / name, args.out / "repeat" / name)
            acc = [r["test_accuracy"] for r in runs]
            rows.append({"model": model, "lane": lane, "seeds": args.seeds, "accuracy": acc,
                         "train_seconds": [r["train_seconds"] for r in runs],
                         "cpu_seconds": [r["train_cpu_seconds"] for r in runs], "bit_identical": identical,
                         "config": {k: runs[0][k] for k in ("epochs", "batch_size", "learning_rate", "warmup",
                                                            "label_smoothing") if k in runs[0]}})
            print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "training_runs.json").write_text(json.dumps(rows, indent=1))
    print("| model | lane | train s (median) | CPU s (median) | test accuracy min / mean / max | bit-identical |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        acc = r["accuracy"]
        print(f"| {r['model']} | {r['lane']} | {statistics.median(r['train_seconds']):.1f} | "
              f"{statistics.median(r['cpu_seconds']):.1f} | {min(acc):.4f} / {statistics.mean(acc):.4f} / "
              f"{max(acc):.4f} | {'-' if r['bit_identical'] is None else 'yes' if r['bit_identical'] else 'no'} |")


if __name__ == "__main__":
    main()
