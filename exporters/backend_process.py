"""Run one converter in a child process whose Keras runs another backend.

Keras fixes its backend at its first import, for the whole process; the export of a Keras model trained on JAX
or PyTorch runs in a process on that backend (its source outputs are the backend's own). A converter that needs
Keras on TensorFlow (ExportArchive) gets the model as a `.keras` file, re-loaded in a child with
KERAS_BACKEND=tensorflow. The child receives the export context as files (spec JSON, calibration and warm-up rows)
and calls the converter exactly as the graph would.

    python -m rosetta.exporters.backend_process JOB.json      (the child; JOB.json written by run_converter)
"""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from rosetta import keras_backends
from rosetta.core.spec import ModelSpec
from rosetta.exporters.base import LazyConverter
from rosetta.exporters.context import ExportContext
from rosetta.exporters.gates import Thresholds

TIMEOUT_S = 1800


def run_converter(backend: str, converter: str, keras_file: Path, dst: Path,
                  ctx: ExportContext) -> dict[str, Any] | None:
    """`converter` ("module:function" in rosetta.exporters) on `keras_file` loaded with Keras on `backend`, writing
    `dst`; returns the converter's notes."""
    with tempfile.TemporaryDirectory(prefix="rosetta-backend-") as tmp:
        rows = Path(tmp) / "rows.npz"
        np.savez(rows, **{f"calibration/{k}": v for k, v in ctx.calibration.items()},
                 **{f"warmup/{k}": v for k, v in ctx.warmup.items()})
        job = Path(tmp) / "job.json"
        notes = Path(tmp) / "notes.json"
        job.write_text(json.dumps({"backend": backend, "converter": converter, "src": str(keras_file),
                                   "dst": str(dst), "spec": ctx.spec.to_json(), "rows": str(rows),
                                   "thresholds": dataclasses.asdict(ctx.thresholds), "notes": str(notes)}))
        done = subprocess.run([sys.executable, "-m", "rosetta.exporters.backend_process", str(job)], capture_output=True,
                              text=True, env=keras_backends.child_env(backend), timeout=TIMEOUT_S)
        returned = json.loads(notes.read_text()) if done.returncode == 0 and notes.is_file() else None
    if done.returncode != 0:
        sys.stderr.write(done.stderr)  # the whole traceback to the log; the cell's error is its last line
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(f"{converter} on the Keras {backend} backend (child process) exited "
                           f"{done.returncode}: {lines[-1] if lines else 'no output'}")
    return returned


def _child(job_path: Path) -> None:
    from rosetta.sources import load_source

    job = json.loads(job_path.read_text())
    source = load_source(job["src"])  # a .keras file: its lane is this process's backend's
    if keras_backends.fixed() != job["backend"]:
        raise RuntimeError(f"child runs Keras on {keras_backends.fixed()}, the job asks for {job['backend']}")
    with np.load(job["rows"]) as rows:
        parts = {part: {k.split("/", 1)[1]: rows[k] for k in rows.files if k.startswith(part + "/")}
                 for part in ("calibration", "warmup")}
    ctx = ExportContext(source, ModelSpec.from_json(job["spec"]), parts["calibration"], parts["warmup"],
                        Thresholds(**job["thresholds"]))
    notes = LazyConverter(job["converter"])(Path(job["src"]), Path(job["dst"]), ctx)
    if notes:
        Path(job["notes"]).write_text(json.dumps(notes))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
