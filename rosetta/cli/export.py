"""`rosetta export`: a built-in model's lanes, or your own model, to every format it reaches, each validated."""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from rosetta import contract
from rosetta.cli.common import UsageError, console, in_child, lanes, log_cell, print_summary, run_children
from rosetta.core.arg_types import positive_int
from rosetta.core.manifest import Entry
from rosetta.core.retention import KEEP_NEWEST


def add_parser(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser(
        "export", help="export a model to every format it reaches and validate each artifact in its runtime",
        description="Built-in models (trained with `rosetta train`): --model mnist-mlp|mnist-cnn|all [--lane L]. "
                    "Your own model: --model SOURCE --example-inputs X.npy|X.npz, where SOURCE is a Keras 3 .keras "
                    "file, a torch.export .pt2 program, an ONNX .onnx file, a TensorFlow SavedModel directory, or "
                    "package.module:factory returning a Keras model, a torch.nn.Module, or a JAX (apply_fn, "
                    "variables) pair.")
    export.add_argument("--model", default="all", metavar="MODEL|SOURCE",
                        help=f"{', '.join(contract.BUILTIN_MODELS)}, all (default), or your model's SOURCE")
    export.add_argument("--lane", choices=[*contract.LANES, "all"], default="all", help="built-in models only")
    export.add_argument("--format", nargs="+", choices=contract.FORMATS, default=None, metavar="F",
                        help=f"only these formats ({', '.join(contract.FORMATS)}); default: every reachable one")
    export.add_argument("--skip-format", nargs="+", choices=contract.FORMATS, default=(), metavar="F",
                        help="every reachable format except these")
    export.add_argument("--example-inputs", type=Path, help=".npy (one input) or .npz (one array per input name)")
    export.add_argument("--labels", type=Path, help=".npy of integer labels of the examples: adds accuracy gates")
    export.add_argument("--name", help="the model's name in the manifest, the servers and the site")
    export.add_argument("--atol", type=float, default=None, help="float artifacts' max |diff| gate (default 1e-5)")
    export.add_argument("--signature", default=None, metavar="NAME",
                        help="a SavedModel directory's signature to export (default serving_default)")
    export.add_argument("--output-kind", nargs="+", default=None, metavar="OUTPUT=KIND",
                        help="an output's kind (probabilities, logits, multilabel, embedding, regression) instead "
                             "of the inferred one: chooses its quantized gate")
    export.add_argument("--gate", nargs="+", default=None, metavar="NAME=VALUE",
                        help="a gate threshold for this run (atol, argmax_agreement, accuracy_drop, label_f1, "
                             "cosine, sqnr_db, fp16_scaled_diff, fp16_argmax_agreement)")
    export.add_argument("--dynamic", action="append", type=dynamic_axis, default=[], metavar="INPUT:AXIS[=MIN:MAX]",
                        help="a non-batch axis of any size (sequence length, image H/W), optionally bounded; "
                             "repeatable. A .pt2's Dims and a Keras model's None dimensions are read from the model")
    export.add_argument("--artifacts", type=Path, default=None, help="output directory (default: --out)")
    export.add_argument("--version", type=positive_int, default=None, metavar="N",
                        help="publish as version N (refused if DIR/<model>/N/ exists); default: the next free one")
    export.add_argument("--keep", type=positive_int, default=KEEP_NEWEST, metavar="N",
                        help="retention after publishing: each exported model keeps its stable and canary versions "
                             f"and its newest N (default {KEEP_NEWEST}); older ones are removed")
    export.add_argument("--force", action="store_true",
                        help="built-in models: export every lane again, even one whose newest version was exported "
                             "from the same checkpoint with the same tools (by default it is reused, nothing published)")
    export.add_argument("--jobs", type=positive_int, default=None,
                        help="built-in models: lanes exported at once, each in its own process (default: the number "
                             "of cores)")
    export.set_defaults(func=run)


def dynamic_axis(text: str) -> tuple[str, int, tuple[int, int | None] | None]:
    """INPUT:AXIS or INPUT:AXIS=MIN:MAX (MAX may be empty: unbounded)."""
    try:
        where, _, bounds = text.partition("=")
        name, _, axis = where.rpartition(":")
        low, _, high = bounds.partition(":")
        if not name or int(axis) < 1:
            raise ValueError
        return name, int(axis), ((int(low), int(high) if high else None) if bounds else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected INPUT:AXIS or INPUT:AXIS=MIN:MAX with AXIS >= 1 "
                                         "(axis 0 is the batch)") from None


def run(args: argparse.Namespace) -> int:
    out = args.artifacts or args.out
    if args.model == "all" or args.model in contract.BUILTIN_MODELS:
        entries = _export_builtins(args, out)
    else:
        entries = _export_user_model(args, out)
    failed = print_summary(entries)
    console.print(f"manifest and report in {out}")
    return 1 if failed else 0


def _export_builtins(args: argparse.Namespace, out: Path) -> list[Entry]:
    from rosetta.api import export_builtins
    from rosetta.core import manifest
    from rosetta.exporters.graph import plan

    if (args.example_inputs or args.labels or args.name or args.signature or args.output_kind or args.gate
            or args.dynamic):
        raise UsageError("--example-inputs/--labels/--name/--signature/--output-kind/--gate/--dynamic are for your "
                         f"own model; {args.model!r} is built in")
    names = lanes(args.lane)
    for name in names:
        missing = [f for f in args.format or [] if f not in plan(name)]
        if missing:
            raise UsageError(f"format(s) {', '.join(missing)} not exported for lane {name!r}; "
                             f"valid for {name}: {', '.join(plan(name))}")
    jobs = min(args.jobs or os.cpu_count() or 1, len(names))
    if jobs > 1:
        return _export_lanes_in_parallel(args, out, names, jobs)
    entries, elsewhere = export_builtins(args.model, names, args.format, out, args.data_dir, args.version,
                                         log=log_cell, announce=lambda text: console.print(f"[bold]{text}[/]"),
                                         skip=args.skip_format, keep=args.keep, force=args.force)
    for name in elsewhere:
        # The child writes its cells into the manifest; this run's summary and exit code take the entries it
        # added or rewrote (a version is never rewritten, a failed one may be retried under the same number).
        before = {e.key: e for e in manifest.load(out).entries}
        if in_child(args, name, _child_command(args)) not in (0, 1):  # 1: cells failed, listed in the manifest
            raise UsageError(f"exporting lane {name} failed (its child process's error is above)")
        entries += [e for e in manifest.load(out).entries if before.get(e.key) != e]
    return entries


def _child_command(args: argparse.Namespace) -> list[str]:
    return ["export", "--model", args.model, *(["--format", *args.format] if args.format else []),
            *(["--skip-format", *args.skip_format] if args.skip_format else []),
            *(["--version", str(args.version)] if args.version is not None else []),
            "--keep", str(args.keep), *(["--force"] if args.force else []), "--jobs", "1"]


def _export_lanes_in_parallel(args: argparse.Namespace, out: Path, names: list[str], jobs: int) -> list[Entry]:
    """Each lane with something to export in a child of its own, `jobs` at a time (every child publishes its
    versions under the manifest lock); lanes whose newest versions are current are reused here, no child
    started. The entries: the reused ones and those the children added."""
    from rosetta.builtins import current_export, up_to_date
    from rosetta.core import manifest

    reused: list[Entry] = []
    todo = []
    for name in names:
        same = [current_export(model, name, args.format, args.skip_format, out, args.data_dir, args.force,
                               args.version)[1]
                for model in (list(contract.BUILTIN_MODELS) if args.model == "all" else [args.model])]
        if all(same):
            for entries in same:
                console.print(f"[bold]{up_to_date(entries)}[/]")
                reused += entries
        else:
            todo.append(name)
    before = {e.key: e for e in manifest.load(out).entries}
    failed = run_children(args, [(name, _child_command(args)) for name in todo], jobs, ok_codes=(0, 1))
    if failed:  # 1: cells failed, listed in the manifest
        raise UsageError(f"exporting lane(s) {', '.join(failed)} failed (their child processes' errors are above)")
    return reused + [e for e in manifest.load(out).entries if before.get(e.key) != e]


def _export_user_model(args: argparse.Namespace, out: Path) -> list[Entry]:
    from rosetta.api import export

    if args.lane != "all":
        raise UsageError("--lane selects a built-in model's lanes; your model's framework is detected")
    if not args.example_inputs:
        raise UsageError(f"--model {args.model}: give --example-inputs X.npy|X.npz (validation and int8 "
                         "calibration rows)")
    console.print(f"[bold]exporting {args.model}[/]")
    dynamic: dict[str, dict] = {}
    for name, axis, bounds in args.dynamic:
        dynamic.setdefault(name, {})[axis] = bounds
    return export(args.model, args.example_inputs, labels=args.labels, name=args.name, formats=args.format,
                  skip=args.skip_format, atol=args.atol, artifacts=out, version=args.version, log=log_cell,
                  output_kinds=args.output_kind, gates=_gate_values(args.gate), signature=args.signature,
                  dynamic=dynamic or None, keep=args.keep)


def _gate_values(items: list[str] | None) -> dict[str, float]:
    """`NAME=NUMBER` strings -> {name: value}; the names are checked against the gates by rosetta.api."""
    values = {}
    for item in items or []:
        name, _, text = item.partition("=")
        try:
            values[name] = float(text)
        except ValueError:
            values[name] = math.nan
        if not name or not math.isfinite(values[name]):
            raise UsageError(f"--gate {item!r}: expected NAME=NUMBER")
    return values
