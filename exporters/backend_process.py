"""Run one converter in a child process: one whose Keras runs another backend, or one kept apart from the export.

Keras fixes its backend at its first import, for the whole process; the export of a Keras model trained on JAX
or PyTorch runs in a process on that backend (its source outputs are the backend's own). A converter that needs
Keras on TensorFlow (ExportArchive) gets the model as a `.keras` file, re-loaded in a child with
KERAS_BACKEND=tensorflow. A converter whose native code can abort its process (`Isolated`) runs in a child with
no backend asked: an abort then fails that cell, not the whole export. The child receives the export context as
files (spec JSON, calibration and warm-up rows) and calls the converter exactly as the graph would.

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
from rosetta.exporters.base import LazyConverter, Unsupported
from rosetta.exporters.context import ExportContext
from rosetta.exporters.gates import Thresholds

TIMEOUT_S = 1800
UNSUPPORTED_EXIT = 3  # the child's converter said the model has no such form (its reason in notes.json)


@dataclasses.dataclass(frozen=True)
class Isolated(LazyConverter):
    """A converter run in a child process of its own (its source is handed on as a path, never loaded)."""

    def __call__(self, src: Path, dst: Path, ctx: ExportContext) -> dict[str, Any] | None:
        return run_converter(None, self.ref, src, dst, ctx)


def run_converter(backend: str | None, converter: str, src: Path, dst: Path,
                  ctx: ExportContext) -> dict[str, Any] | None:
    """`converter` ("module:function" in rosetta.exporters) on `src`, a .keras file loaded with Keras on `backend`,
    writing `dst`; returns the converter's notes. With no `backend`, `src` is any node's path, handed on unloaded."""
    with tempfile.TemporaryDirectory(prefix="rosetta-backend-") as tmp:
        rows = Path(tmp) / "rows.npz"
        np.savez(rows, **{f"calibration/{k}": v for k, v in ctx.calibration.items()},
                 **{f"warmup/{k}": v for k, v in ctx.warmup.items()})
        job = Path(tmp) / "job.json"
        notes = Path(tmp) / "notes.json"
        job.write_text(json.dumps({"backend": backend, "converter": converter, "src": str(src),
                                   "dst": str(dst), "spec": ctx.spec.to_json(), "rows": str(rows),
                                   "thresholds": dataclasses.asdict(ctx.thresholds), "notes": str(notes)}))
        done = subprocess.run([sys.executable, "-m", "rosetta.exporters.backend_process", str(job)], capture_output=True,
                              text=True, env=keras_backends.child_env(backend) if backend else None,
                              timeout=TIMEOUT_S)
        returned = json.loads(notes.read_text()) if done.returncode in (0, UNSUPPORTED_EXIT) and notes.is_file() \
            else None
    if done.returncode == UNSUPPORTED_EXIT and returned:
        raise Unsupported(returned["unsupported"])
    if done.returncode != 0:
        sys.stderr.write(done.stderr)  # the whole traceback to the log; the cell's error is its last line
        lines = done.stderr.strip().splitlines()
        where = f"on the Keras {backend} backend (child process)" if backend else "(child process)"
        if done.returncode < 0:
            raise RuntimeError(f"{converter} {where} killed by signal {-done.returncode} in native code; its last "
                               f"output: {lines[-1] if lines else 'none'}")
        raise RuntimeError(f"{converter} {where} exited {done.returncode}: {lines[-1] if lines else 'no output'}")
    return returned


def _child(job_path: Path) -> None:
    from rosetta.sources import load_source

    job = json.loads(job_path.read_text())
    source = None
    if job["backend"]:
        source = load_source(job["src"])  # a .keras file: its lane is this process's backend's
        if keras_backends.fixed() != job["backend"]:
            raise RuntimeError(f"child runs Keras on {keras_backends.fixed()}, the job asks for {job['backend']}")
    with np.load(job["rows"]) as rows:
        parts = {part: {k.split("/", 1)[1]: rows[k] for k in rows.files if k.startswith(part + "/")}
                 for part in ("calibration", "warmup")}
    ctx = ExportContext(source, ModelSpec.from_json(job["spec"]), parts["calibration"], parts["warmup"],
                        Thresholds(**job["thresholds"]))
    try:
        notes = LazyConverter(job["converter"])(Path(job["src"]), Path(job["dst"]), ctx)
    except Unsupported as exc:
        Path(job["notes"]).write_text(json.dumps({"unsupported": str(exc)}))
        sys.exit(UNSUPPORTED_EXIT)
    if notes:
        Path(job["notes"]).write_text(json.dumps(notes))


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
