"""`rosetta` command line: train the lanes, export and validate every artifact, bench them, serve them."""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rosetta import contract
from rosetta.data import DEFAULT_DATA_DIR, DataError, load_split

ARTIFACTS_DIR = Path("artifacts")
# Logs and CI are not terminals; rich would wrap the tables at 80 columns there.
console = Console(width=None if sys.stdout.isatty() else 160)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _lanes(choice: str) -> list[str]:
    return list(contract.LANES) if choice == "all" else [choice]


def cmd_train(args: argparse.Namespace) -> int:
    from models.common import TrainConfig
    from rosetta.training import train_lane

    train, test = load_split("train", args.data_dir), load_split("test", args.data_dir)
    if args.train_limit:
        train = train.head(args.train_limit)
    models = list(contract.BUILTIN_MODELS) if args.model == "all" else [args.model]
    results = []
    for model in models:
        config = TrainConfig.for_model(model, epochs=args.epochs, batch_size=args.batch_size,
                                       learning_rate=args.learning_rate, seed=args.seed)
        for name in _lanes(args.lane):
            console.print(f"[bold]training {contract.served_name(model, name)}[/] on {len(train):,} images, {config}")
            results.append(train_lane(model, name, train, test, config, args.out))
    table = Table(title="training summary")
    for column in ("model", "lane", "test accuracy", "train s", "epochs", "checkpoint"):
        table.add_column(column)
    for m in results:
        ok = m["test_accuracy"] >= contract.ACCURACY_BAR[m["model"]] or args.train_limit
        table.add_row(m["model"], m["lane"], f"[{'green' if ok else 'red'}]{m['test_accuracy']:.4f}[/]",
                      f"{m['train_seconds']:.1f}", str(m["epochs"]), str(args.out / m["model_name"] / m["checkpoint"]))
    console.print(table)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from exporters import manifest
    from exporters.graph import plan
    from exporters.pipeline import export_lane
    from exporters.report import print_summary, write_report

    lanes = _lanes(args.lane)
    for name in lanes:
        reachable = plan(name)
        if args.format != "all" and args.format not in reachable:
            raise UsageError(f"format {args.format!r} is not exported for lane {name!r}; "
                             f"valid for {name}: {', '.join(reachable)}")
    train, test = load_split("train", args.data_dir), load_split("test", args.data_dir)
    entries = []
    for name in lanes:
        formats = list(plan(name)) if args.format == "all" else [args.format]
        console.print(f"[bold]exporting {name}[/]: {', '.join(formats)}")
        entries += export_lane(name, formats, args.out, train, test, log=_log_cell)
    manifest.write(args.out, entries)
    report = write_report(args.out)
    failed = print_summary(console, entries)
    console.print(f"manifest: {args.out / manifest.MANIFEST}  report: {report}")
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from exporters.bench import run_bench

    path = run_bench(args.out, load_split("test", args.data_dir), load_split("train", args.data_dir), console,
                     budget_s=args.seconds, lanes=None if args.lane == "all" else [args.lane],
                     formats=None if args.format == "all" else [args.format])
    console.print(f"bench: {path} and {path.with_suffix('.png')}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from serving.config import config_from_args
    from serving.server import serve

    return serve(config_from_args(args))


def _log_cell(entry: dict) -> None:
    status = entry["status"]
    color = {"ok": "green"}.get(status, "red")
    detail = (f"max|diff| {entry['parity']['max_abs_diff']:.2e}  acc {entry['parity']['accuracy']:.4f}  "
              f"export {entry['export_seconds']:.1f}s  validate {entry['validate_seconds']:.1f}s"
              if "parity" in entry else entry.get("error", ""))
    console.print(f"  [{color}]{status:>11}[/] {entry['lane']:>5} {entry['format']:<12} {detail}", highlight=False)


class UsageError(Exception):
    """A valid-looking command the pipeline cannot run (e.g. a format a lane does not export)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rosetta", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="directory with the MNIST IDX .gz files and SHA256SUMS.raw")
    parser.add_argument("--out", type=Path, default=ARTIFACTS_DIR, help="artifacts directory")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train built-in models in one lane or all")
    train.add_argument("--model", choices=[*contract.BUILTIN_MODELS, "all"], default="all")
    train.add_argument("--lane", choices=[*contract.LANES, "all"], default="all")
    train.add_argument("--epochs", type=_positive_int, default=None, help="default: the model's own")
    train.add_argument("--batch-size", type=_positive_int, default=None, help="default: the model's own")
    train.add_argument("--learning-rate", type=_positive_float, default=None, help="default: the model's own")
    train.add_argument("--seed", type=int, default=contract.SEED)
    train.add_argument("--train-limit", type=_positive_int, default=None,
                       help="train on the first N training images only (quick runs)")
    train.set_defaults(func=cmd_train)

    export = sub.add_parser("export", help="export trained lanes to every format and validate each artifact")
    export.add_argument("--lane", choices=[*contract.LANES, "all"], default="all")
    export.add_argument("--format", choices=[*contract.FORMATS, "all"], default="all")
    export.set_defaults(func=cmd_export)

    bench = sub.add_parser("bench", help="latency/throughput of every validated artifact in its runtime")
    bench.add_argument("--lane", choices=[*contract.LANES, "all"], default="all")
    bench.add_argument("--format", choices=[*contract.FORMATS, "all"], default="all")
    bench.add_argument("--seconds", type=float, default=2.0, help="time budget per measurement")
    bench.set_defaults(func=cmd_bench)

    from serving.config import add_serve_arguments  # argparse only: no server imports until `serve` runs

    serve = sub.add_parser("serve", help="serve the ONNX artifacts: KServe v2 REST + gRPC, TF Serving REST")
    add_serve_arguments(serve)
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        code = args.func(args)
    except DataError as exc:
        print(f"rosetta: data error: {exc}", file=sys.stderr)  # plain: no wrapping inside the path
        return 2
    except (UsageError, FileNotFoundError) as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 2
    console.print(f"done in {time.perf_counter() - start:.1f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
