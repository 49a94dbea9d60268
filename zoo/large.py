"""`python -m rosetta.zoo.large` (`make zoo-large`): full-size architectures through `rosetta export`, measured.

Each model is one `rosetta export` child whose progress lines are streamed as they come; the exporter records
every cell's wall time and its process tree's peak RSS (rosetta.exporters.memory) in the manifest. This writes
DIR/large.md and large.json: per cell its status, time, peak and extra RSS, extra RSS over the model's float32
bytes (target: at most 3x), artifact size; per model the child's lifetime peak RSS (wait4's ru_maxrss).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rosetta.core.atomic import atomic_file, write_json
from rosetta.core.manifest import Entry
from rosetta.zoo import inputs
from rosetta.zoo.run import entries_for

DEFAULT_ARTIFACTS = Path("artifacts/zoo-large")
RUN_TARGET_S = 30 * 60
EXTRA_MEMORY_TARGET = 3.0  # a cell's extra RSS, in multiples of the model's float32 weights
MODEL_TIMEOUT_S = 2700


@dataclass(frozen=True)
class LargeModel:
    name: str
    source: str  # package.module:factory
    make_inputs: Callable[[int], dict[str, np.ndarray]]
    examples: int  # 4/5 validate every cell, 1/5 calibrate int8
    description: str
    atol: float | None = None
    dynamic: tuple[str, ...] = ()  # `rosetta export --dynamic` values: free axes beyond the batch
    formats: tuple[str, ...] = ()  # `rosetta export --format` (default: every reachable one)


def _images(n: int) -> dict[str, np.ndarray]:
    return {"images": inputs.normalized_nchw(n, (3, 224, 224), seed=11)}


def _tokens(n: int) -> dict[str, np.ndarray]:
    from rosetta.zoo.large_models import token_ids

    return {"token_ids": token_ids(n, seed=12)}


LARGE: tuple[LargeModel, ...] = (
    LargeModel("large-resnet50-torch", "rosetta.zoo.large_models:resnet50", _images, 40,
               "ResNet-50 (Bottleneck [3,4,6,3]), 224x224 NCHW (H, W free: 64..512), 1000-way softmax", atol=1e-4,
               dynamic=("images:2=64:512", "images:3=64:512")),
    LargeModel("large-bert-base-torch", "rosetta.zoo.large_models:bert_base", _tokens, 40,
               "BERT-base encoder (12x768, 12 heads, FF 3072, GELU), 128 token ids (length free: 2..512), 2-way "
               "softmax", atol=1e-4, dynamic=("token_ids:1=2:512",)),
)


def _features(n: int) -> dict[str, np.ndarray]:
    return {"features": inputs.tabular(n, 1024, seed=13)}


# Past 2 GiB of weights (`make zoo-2gb`): each framework's formats; torch's SavedModel would go through onnx2tf,
# which holds several copies of the weights (measured on ResNet-50 in large.md), so the Keras lane brings the
# TensorFlow formats.
HUGE: tuple[LargeModel, ...] = (
    LargeModel("huge-wide-mlp-torch", "rosetta.zoo.large_models:wide_mlp_torch", _features, 20,
               "wide MLP 1024 -> 3 x 16384 -> 10 (553.8M parameters, 2.2 GB)", atol=1e-4,
               formats=("onnx", "pt2", "torchscript")),
    LargeModel("huge-wide-mlp-keras", "rosetta.zoo.large_models:wide_mlp_keras", _features, 20,
               "the same wide MLP in Keras", atol=1e-4, formats=("savedmodel", "tflite-fp32", "tfjs")),
)


def parameters(source: str) -> int:
    from rosetta.sources import load_source

    model = load_source(source).model
    if hasattr(model, "count_params"):  # Keras
        return int(model.count_params())
    return sum(p.numel() for p in model.parameters())


def _stream(pipe, prefix: str, sink: list[str]) -> None:
    for line in pipe:
        sink.append(line)
        print(f"{prefix}{line}", end="", flush=True)


def export_one(model: LargeModel, artifacts: Path) -> dict:
    """One `rosetta export` child; returns its wall time, exit code, lifetime peak RSS and output tail."""
    path = artifacts / "inputs" / f"{model.name}.npz"
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **model.make_inputs(model.examples))
    command = [sys.executable, "-m", "rosetta.cli", "export", "--model", model.source, "--example-inputs", str(path),
               "--name", model.name, "--artifacts", str(artifacts)]
    command += ["--atol", repr(model.atol)] if model.atol is not None else []
    command += [arg for axis in model.dynamic for arg in ("--dynamic", axis)]
    command += ["--format", *model.formats] if model.formats else []
    started, lines = time.monotonic(), []
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reader = threading.Thread(target=_stream, args=(proc.stdout, f"[{model.name}] ", lines), daemon=True)
    reader.start()
    deadline, code, usage = started + MODEL_TIMEOUT_S, None, None
    while code is None:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            proc.returncode = code
        elif time.monotonic() > deadline:
            proc.kill()
            lines.append(f"timed out after {MODEL_TIMEOUT_S} s\n")
        else:
            time.sleep(0.5)
    reader.join(timeout=5)
    return {"seconds": round(time.monotonic() - started, 1), "exit": code,
            "child_max_rss_bytes": usage.ru_maxrss * 1024 if usage else None, "tail": "".join(lines[-20:])}


def cell_row(entry: Entry, float_bytes: int) -> dict:
    res = entry.resources or {}
    extra = res.get("extra_rss_bytes")
    return {"format": entry.format, "status": entry.status, "seconds": res.get("seconds"),
            "peak_rss_bytes": res.get("peak_rss_bytes"), "extra_rss_bytes": extra,
            "extra_over_float": round(extra / float_bytes, 2) if extra is not None else None,
            "bytes": entry.bytes, "why": " ".join(entry.why().split())[:200] if not entry.ok else ""}


def _mib(n: int | None) -> str:
    return "" if n is None else f"{n / 2**20:,.0f}"


def write_tables(artifacts: Path, results: list[dict], total_s: float) -> Path:
    write_json(artifacts / "large.json", {"total_seconds": total_s, "target_seconds": RUN_TARGET_S,
                                          "extra_memory_target": EXTRA_MEMORY_TARGET, "models": results})
    lines = [f"Whole run: {total_s / 60:.1f} min (target {RUN_TARGET_S // 60} min)", "",
             "| model | params | float MiB | cells ok | child peak RSS MiB | time s |", "|---|---|---|---|---|---|"]
    for r in results:
        ok = sum(c["status"] == "ok" for c in r["cells"])
        lines.append(f"| {r['model']} | {r['parameters'] / 1e6:.1f}M | {_mib(r['float_bytes'])} | {ok}/{len(r['cells'])} "
                     f"| {_mib(r['child_max_rss_bytes'])} | {r['seconds']:.0f} |")
    lines += ["", "| model | format | status | time s | peak RSS MiB | extra RSS MiB | extra / float | size MiB | why |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for c in r["cells"]:
            lines.append(f"| {r['model']} | {c['format']} | {c['status']} | {c['seconds'] or 0:.0f} | "
                         f"{_mib(c['peak_rss_bytes'])} | {_mib(c['extra_rss_bytes'])} | {c['extra_over_float']} | "
                         f"{_mib(c['bytes'])} | {c['why'].replace('|', '/')} |")
    path = artifacts / "large.md"
    with atomic_file(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rosetta.zoo.large", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=DEFAULT_ARTIFACTS)
    parser.add_argument("--model", action="append", choices=[m.name for m in LARGE + HUGE],
                        help="only these (repeatable)")
    parser.add_argument("--huge", action="store_true", help="the models past 2 GiB instead (make zoo-2gb)")
    args = parser.parse_args(argv)
    models = [m for m in (HUGE if args.huge else LARGE) if not args.model or m.name in args.model]
    started, results = time.monotonic(), []
    for model in models:
        params = parameters(model.source)
        print(f"[zoo-large] {model.name}: {params / 1e6:.1f}M parameters", flush=True)
        run = export_one(model, args.artifacts)
        found = entries_for(args.artifacts, model.name)
        newest = max((e.version for e in found), default=None)
        cells = [cell_row(e, params * 4) for e in found if e.version == newest]
        results.append({"model": model.name, "parameters": params, "float_bytes": params * 4,
                        "description": model.description, **run, "cells": cells})
        print(f"[zoo-large] {model.name}: exit {run['exit']} in {run['seconds']:.0f} s", flush=True)
    path = write_tables(args.artifacts, results, round(time.monotonic() - started, 1))
    print(path.read_text())
    return 0 if all(c["status"] == "ok" for r in results for c in r["cells"]) and results else 1


if __name__ == "__main__":
    sys.exit(main())
