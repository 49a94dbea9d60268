"""`rosetta` command line: train the lanes, export and validate every artifact, bench them, serve them."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from models.common import TrainConfig
from rosetta import contract
from rosetta.data import DEFAULT_DATA_DIR, DataError, load_split
from rosetta.layout import VersionError
from rosetta.sources import SourceError
from rosetta.spec import SpecError

ARTIFACTS_DIR = Path("artifacts")
# Logs and CI are not terminals; rich would wrap the tables at 80 columns there.
console = Console(width=None if sys.stdout.isatty() else 160)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _canary(text: str) -> int | str:
    if text == "none":
        return text
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer (a version) or none, got {text}")
    return int(text)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _lanes(choice: str) -> list[str]:
    return list(contract.LANES) if choice == "all" else [choice]


def _in_child(args: argparse.Namespace, name: str, command: list[str]) -> int:
    """Run `command` for lane `name` in a child `rosetta` process whose Keras runs the lane's backend: Keras reads
    KERAS_BACKEND once per process, and this one's Keras already runs another backend."""
    from models import keras_backend
    from rosetta.keras_backends import child_env

    backend = keras_backend(name)
    console.print(f"[bold]{name}[/]: in a child process with KERAS_BACKEND={backend}")
    out = getattr(args, "artifacts", None) or args.out
    argv = [sys.executable, "-m", "rosetta.cli", "--data-dir", str(args.data_dir), "--out", str(out),
            *command, "--lane", name]
    return subprocess.run(argv, env=child_env(backend)).returncode


def _optional(flags: dict[str, object]) -> list[str]:
    return [part for flag, value in flags.items() if value is not None for part in (flag, str(value))]


def cmd_train(args: argparse.Namespace) -> int:
    from models import needs_own_process
    from rosetta.training import METRICS, train_lane

    lanes = _lanes(args.lane)
    models = list(contract.BUILTIN_MODELS) if args.model == "all" else [args.model]
    configs = {model: TrainConfig.for_model(model, epochs=args.epochs, batch_size=args.batch_size,
                                            learning_rate=args.learning_rate, seed=args.seed) for model in models}
    results = []
    if args.devices > 1:
        from models.distributed import UNSUPPORTED, DistributedError, check
        if args.lane == "all":  # every lane that has an engine; an explicit --lane without one is refused
            for name in [n for n in lanes if n in UNSUPPORTED]:
                console.print(f"[yellow]skipping {name}[/]: {UNSUPPORTED[name]}")
            lanes = [n for n in lanes if n not in UNSUPPORTED]
        try:  # every run refused before the first one starts
            for config in configs.values():
                for name in lanes:
                    check(name, args.devices, config.batch_size)
        except DistributedError as exc:
            raise UsageError(str(exc)) from None
        for model, config in configs.items():
            for name in lanes:
                results.append(_train_data_parallel(model, name, config, args))
    else:
        train, test = load_split("train", args.data_dir), load_split("test", args.data_dir)
        if args.train_limit:
            train = train.head(args.train_limit)
        for model, config in configs.items():
            for name in lanes:
                if needs_own_process(name):  # Keras runs another backend here: the lane trains in a child, below
                    continue
                console.print(f"[bold]training {contract.served_name(model, name)}[/] on {len(train):,} images, "
                              f"{config}")
                results.append(train_lane(model, name, train, test, config, args.out))
        flags = _optional({"--epochs": args.epochs, "--batch-size": args.batch_size, "--learning-rate":
                           args.learning_rate, "--seed": args.seed, "--train-limit": args.train_limit})
        for name in [n for n in lanes if n not in {r["lane"] for r in results}]:
            if _in_child(args, name, ["train", "--model", args.model, *flags]) != 0:
                raise UsageError(f"training lane {name} failed (its child process's error is above)")
            results += [json.loads((args.out / contract.served_name(m, name) / METRICS).read_text())
                        for m in models]
    table = Table(title="training summary")
    for column in ("model", "lane", "test accuracy", "train s", "epochs", "engine", "checkpoint"):
        table.add_column(column)
    for m in results:
        ok = m["test_accuracy"] >= contract.ACCURACY_BAR[m["model"]] or args.train_limit
        table.add_row(m["model"], m["lane"], f"[{'green' if ok else 'red'}]{m['test_accuracy']:.4f}[/]",
                      f"{m['train_seconds']:.1f}", str(m["epochs"]), m["engine"],
                      str(args.out / m["model_name"] / m["checkpoint"]))
    console.print(table)
    return 0


def _train_data_parallel(model: str, name: str, config: TrainConfig, args: argparse.Namespace) -> dict:
    """One lane on `--devices` devices, in processes of its own (models.distributed.launch); returns the
    metrics its writer wrote."""
    from models.distributed.launch import command
    from rosetta.training import METRICS

    worker_args = ["--model", model, "--epochs", str(config.epochs), "--batch-size", str(config.batch_size),
                   "--learning-rate", repr(config.learning_rate), "--seed", str(config.seed),
                   "--data-dir", str(args.data_dir), "--out", str(args.out),
                   *(["--train-limit", str(args.train_limit)] if args.train_limit else [])]
    cmd = command(name, args.devices, worker_args)
    console.print(f"[bold]training {contract.served_name(model, name)} on {args.devices} devices[/], {config}: "
                  f"{' '.join(cmd)}")
    metrics_path = args.out / contract.served_name(model, name) / METRICS
    before = metrics_path.stat().st_mtime_ns if metrics_path.exists() else None
    if subprocess.run(cmd).returncode != 0:
        raise TrainingError(f"data-parallel training of {contract.served_name(model, name)} failed (above)")
    if not metrics_path.exists() or metrics_path.stat().st_mtime_ns == before:  # a stale file is no result
        raise TrainingError(f"data-parallel training of {contract.served_name(model, name)} wrote no {METRICS}")
    return json.loads(metrics_path.read_text())


def _models(choice: str) -> list[str]:
    return list(contract.BUILTIN_MODELS) if choice == "all" else [choice]


def cmd_export(args: argparse.Namespace) -> int:
    from exporters import manifest
    from exporters.report import print_summary, write_report

    out = args.artifacts or args.out
    if args.model == "all" or args.model in contract.BUILTIN_MODELS:
        entries = _export_builtins(args, out)
    else:
        entries = _export_user_model(args, out)
    manifest.write(out, entries)
    report = write_report(out)
    failed = print_summary(console, entries)
    console.print(f"manifest: {out / manifest.MANIFEST}  report: {report}")
    return 1 if failed else 0


def _export_builtins(args: argparse.Namespace, out: Path) -> list[dict]:
    from exporters import manifest
    from exporters.graph import plan
    from models import needs_own_process
    from rosetta.builtins import export_builtin, mnist_examples

    if args.example_inputs or args.labels or args.name:
        raise UsageError(f"--example-inputs/--labels/--name are for your own model; {args.model!r} is built in")
    from exporters.pipeline import resolve_version

    lanes = _lanes(args.lane)
    for name in lanes:
        missing = [f for f in args.format or [] if f not in plan(name)]
        if missing:
            raise UsageError(f"format(s) {', '.join(missing)} not exported for lane {name!r}; "
                             f"valid for {name}: {', '.join(plan(name))}")
    if args.version is not None:  # refuse a published version before loading data or models
        for model in _models(args.model):
            for name in lanes:
                resolve_version(out, contract.served_name(model, name), args.version)
    examples = mnist_examples(load_split("train", args.data_dir), load_split("test", args.data_dir))
    entries = []
    for model in _models(args.model):
        for name in lanes:
            if needs_own_process(name):  # Keras runs another backend here: the lane exports in a child, below
                continue
            formats = args.format or list(plan(name))
            console.print(f"[bold]exporting {contract.served_name(model, name)}[/]: {', '.join(formats)}")
            entries += export_builtin(model, name, formats, out, examples, log=_log_cell, version=args.version)
    for name in [n for n in lanes if n not in {e["lane"] for e in entries}]:
        # The child writes its cells into the manifest; this run's summary and exit code take the entries it
        # added or rewrote (a version is never rewritten, a failed one may be retried under the same number).
        before = {_entry_key(e): e for e in manifest.load(out).get("artifacts", [])}
        command = ["export", "--model", args.model, *(["--format", *args.format] if args.format else []),
                   *(["--version", str(args.version)] if args.version is not None else [])]
        if _in_child(args, name, command) not in (0, 1):  # 1: cells failed, listed in the manifest
            raise UsageError(f"exporting lane {name} failed (its child process's error is above)")
        entries += [e for e in manifest.load(out)["artifacts"] if before.get(_entry_key(e)) != e]
    return entries


def _entry_key(entry: dict) -> tuple:
    return entry.get("model_name"), entry.get("format"), entry.get("version")


def _export_user_model(args: argparse.Namespace, out: Path) -> list[dict]:
    from rosetta.api import export

    if args.lane != "all":
        raise UsageError("--lane selects a built-in model's lanes; your model's framework is detected")
    if not args.example_inputs:
        raise UsageError(f"--model {args.model}: give --example-inputs X.npy|X.npz (validation and int8 "
                         "calibration rows)")
    console.print(f"[bold]exporting {args.model}[/]")
    return export(args.model, args.example_inputs, labels=args.labels, name=args.name, formats=args.format,
                  atol=args.atol, artifacts=out, version=args.version, log=_log_cell)


def cmd_release(args: argparse.Namespace) -> int:
    from exporters import manifest

    out = args.artifacts or args.out
    if args.stable is None and args.canary is None and not args.retire and not args.unretire:
        raise UsageError("nothing to do: give --stable N, --canary N|none, --retire N ... or --unretire N ...")
    try:
        rec = manifest.release(out, args.model, stable=args.stable, canary=args.canary, retire=args.retire or (),
                               unretire=args.unretire or ())
    except manifest.ReleaseError as exc:
        raise UsageError(str(exc)) from None
    labels = ", ".join(f"{k} -> {v}" for k, v in rec["labels"].items())
    retired = ", ".join(map(str, rec["retired"])) or "none"
    console.print(f"{args.model}: {labels}; retired: {retired}  ({out / manifest.MANIFEST})", highlight=False)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from exporters.bench import run_bench

    path = run_bench(args.out, load_split("train", args.data_dir), console, budget_s=args.seconds,
                     models=args.model, formats=args.format, rounds=args.rounds,
                     compile_model=None if args.compile_model == "none" else args.compile_model)
    console.print(f"bench: {path} and {path.with_suffix('.png')}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from serving.server.config import config_from_args
    from serving.server.app import serve

    return serve(config_from_args(args))


def _builtin_examples(artifacts_dir: Path, data_dir: Path) -> dict:
    """The demo's example buttons for built-in models: the MNIST test split they were validated on."""
    from exporters import manifest
    from exporters.pipeline import SOURCE_OUTPUTS
    from web.examples import from_validation

    builtin = {contract.served_name(m, lane) for m in contract.BUILTIN_MODELS for lane in contract.LANES}
    current = manifest.load(artifacts_dir)
    newest: dict[str, dict] = {}  # the newest version the site offers, per built-in model: its reference outputs
    for e in manifest.latest(current) if current.get("schema_version") == manifest.SCHEMA_VERSION else []:
        if e.get("model_name") in builtin and "spec" in e and e["status"] == "ok":
            if e["model_name"] not in newest or e["version"] > newest[e["model_name"]]["version"]:
                newest[e["model_name"]] = e
    if not newest:
        return {}
    try:
        test = load_split("test", data_dir)
    except DataError as exc:  # the demo still works for drawing; only its example buttons go
        print(f"rosetta: warning: no examples for the demo ({exc})", file=sys.stderr)
        return {}
    out = {}
    for name, entry in newest.items():
        spec = entry["spec"]
        output = next((o["name"] for o in spec["outputs"] if o.get("kind")), spec["outputs"][0]["name"])
        out[name] = from_validation(manifest.version_file(artifacts_dir, entry, SOURCE_OUTPUTS), output,
                                    test.images, test.labels)
    return out


def cmd_site(args: argparse.Namespace) -> int:
    from web.catalog import SiteError
    from web.serve import serve
    from web.site import build_site

    artifacts = args.artifacts or args.out
    site_dir = args.site_dir or artifacts / "site"
    try:
        if not args.serve or not (site_dir / "index.json").is_file():
            build_site(artifacts, site_dir, _builtin_examples(artifacts, args.data_dir))
            console.print(f"site built: {site_dir / 'index.html'} (opens from disk; the demo needs "
                          "`rosetta site --serve`)", highlight=False)
        if args.serve:
            return serve(site_dir, args.port)
    except SiteError as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _log_cell(entry: dict) -> None:
    status = entry["status"]
    color = {"ok": "green"}.get(status, "red")
    parity = entry.get("parity")
    detail = (f"max|diff| {parity['max_abs_diff']:.2e}  "
              + (f"acc {parity['accuracy']:.4f}  " if parity["accuracy"] is not None else "")
              + f"export {entry['export_seconds']:.1f}s  validate {entry['validate_seconds']:.1f}s  "
              + "; ".join(parity["failures"]) if parity else entry.get("error", ""))
    console.print(f"  [{color}]{status:>11}[/] {entry['model_name']:>16} {entry['format']:<12} {detail}",
                  highlight=False)


class UsageError(Exception):
    """A valid-looking command the pipeline cannot run (e.g. a format a lane does not export)."""


class TrainingError(Exception):
    """A training run failed; its own output says why."""


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
    train.add_argument("--devices", type=_positive_int, default=1,
                       help="data-parallel on N devices (GPUs, else N CPU devices): jax.sharding, torch DDP "
                            "under torchrun, tf.distribute.MirroredStrategy, keras.distribution (keras-jax); the "
                            "batch size is the global one")
    train.set_defaults(func=cmd_train)

    export = sub.add_parser(
        "export", help="export a model to every format it reaches and validate each artifact in its runtime",
        description="Built-in models (trained with `rosetta train`): --model mnist-mlp|mnist-cnn|all [--lane L]. "
                    "Your own model: --model SOURCE --example-inputs X.npy|X.npz, where SOURCE is a Keras 3 .keras "
                    "file, a torch.export .pt2 program, or package.module:factory returning a Keras model, a "
                    "torch.nn.Module, or a JAX (apply_fn, variables) pair.")
    export.add_argument("--model", default="all", metavar="MODEL|SOURCE",
                        help=f"{', '.join(contract.BUILTIN_MODELS)}, all (default), or your model's SOURCE")
    export.add_argument("--lane", choices=[*contract.LANES, "all"], default="all", help="built-in models only")
    export.add_argument("--format", nargs="+", choices=contract.FORMATS, default=None, metavar="F",
                        help=f"only these formats ({', '.join(contract.FORMATS)}); default: every reachable one")
    export.add_argument("--example-inputs", type=Path, help=".npy (one input) or .npz (one array per input name)")
    export.add_argument("--labels", type=Path, help=".npy of integer labels of the examples: adds accuracy gates")
    export.add_argument("--name", help="the model's name in the manifest, the servers and the site")
    export.add_argument("--atol", type=float, default=None, help="float artifacts' max |diff| gate (default 1e-5)")
    export.add_argument("--artifacts", type=Path, default=None, help="output directory (default: --out)")
    export.add_argument("--version", type=_positive_int, default=None, metavar="N",
                        help="publish as version N (refused if DIR/<model>/N/ exists); default: the next free one")
    export.set_defaults(func=cmd_export)

    release = sub.add_parser(
        "release", help="move a model's stable/canary labels and retire versions (what the servers serve)",
        description="Edits the manifest's release record of MODEL. A label points at a version with an ok artifact "
                    "that is not retired; a labelled version cannot be retired. Servers serve every ok, "
                    "non-retired version; unversioned requests go to the latest one.")
    release.add_argument("model", metavar="MODEL", help="the model's name in the manifest (e.g. mnist-mlp-torch)")
    release.add_argument("--stable", type=_positive_int, default=None, metavar="N", help="label version N stable")
    release.add_argument("--canary", type=_canary, default=None, metavar="N|none",
                         help="label version N canary, or drop the canary label")
    release.add_argument("--retire", type=_positive_int, nargs="+", default=None, metavar="N",
                         help="stop serving these versions (their files stay)")
    release.add_argument("--unretire", type=_positive_int, nargs="+", default=None, metavar="N",
                         help="serve these retired versions again")
    release.add_argument("--artifacts", type=Path, default=None, help="dir with manifest.json (default: --out)")
    release.set_defaults(func=cmd_release)

    bench = sub.add_parser("bench", help="latency/throughput of every validated artifact in its runtime")
    bench.add_argument("--model", nargs="+", default=None, help="model names in the manifest (default: all)")
    bench.add_argument("--format", nargs="+", choices=contract.FORMATS, default=None, metavar="F")
    bench.add_argument("--seconds", type=float, default=2.0, help="time budget per artifact, over all rounds")
    bench.add_argument("--rounds", type=_positive_int, default=3,
                       help="round-robin passes over every artifact; each timing is the median over them")
    bench.add_argument("--compile-model", choices=[*contract.TRAINING, "none"], default=contract.MNIST_MLP.name,
                       help="built-in model for the eager-vs-compiled table of every lane (none: skip it)")
    bench.set_defaults(func=cmd_bench)

    from serving.server.config import add_serve_arguments  # argparse only: no server imports until `serve` runs

    serve = sub.add_parser("serve", help="serve the ONNX artifacts: KServe v2 REST + gRPC, TF Serving REST")
    add_serve_arguments(serve)
    serve.set_defaults(func=cmd_serve)

    site = sub.add_parser("site", help="build the download page and browser demo; --serve serves it on 127.0.0.1")
    site.add_argument("--artifacts", type=Path, default=None, help="dir with manifest.json (default: --out)")
    site.add_argument("--site-dir", type=Path, default=None, help="where the site goes (default: <artifacts>/site)")
    site.add_argument("--serve", action="store_true",
                      help="serve the site (built first if missing) on 127.0.0.1 until Ctrl-C")
    site.add_argument("--port", type=int, default=8000, help="port for --serve (0: any free port)")
    site.set_defaults(func=cmd_site)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    try:
        code = args.func(args)
    except DataError as exc:
        print(f"rosetta: data error: {exc}", file=sys.stderr)  # plain: no wrapping inside the path
        return 2
    except (UsageError, FileNotFoundError, SpecError, SourceError, VersionError) as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 2
    except TrainingError as exc:
        print(f"rosetta: error: {exc}", file=sys.stderr)
        return 1
    console.print(f"done in {time.perf_counter() - start:.1f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
