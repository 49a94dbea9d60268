"""`rosetta train`: the built-in models in one lane or all, on one device or data-parallel."""
from __future__ import annotations

import argparse
import json
import os
import subprocess

from rich.table import Table

from rosetta import contract
from rosetta.cli.common import TrainingError, UsageError, builtin_models, console, lanes, optional_flags, run_children
from rosetta.core.arg_types import positive_float, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train built-in models in one lane or all")
    train.add_argument("--model", choices=[*contract.BUILTIN_MODELS, "all"], default="all")
    train.add_argument("--lane", choices=[*contract.LANES, "all"], default="all")
    train.add_argument("--epochs", type=positive_int, default=None, help="default: the model's own")
    train.add_argument("--batch-size", type=positive_int, default=None, help="default: the model's own")
    train.add_argument("--learning-rate", type=positive_float, default=None, help="default: the model's own")
    train.add_argument("--seed", type=int, default=contract.SEED)
    train.add_argument("--train-limit", type=positive_int, default=None,
                       help="train on the first N training images only (quick runs)")
    train.add_argument("--devices", type=positive_int, default=1,
                       help="data-parallel on N devices (GPUs, else N CPU devices): jax.sharding, torch DDP "
                            "under torchrun, tf.distribute.MirroredStrategy, keras.distribution (keras-jax); the "
                            "batch size is the global one")
    train.add_argument("--jobs", type=positive_int, default=None,
                       help="lanes trained at once, each in its own process (default: the number of cores)")
    train.add_argument("--threads", type=positive_int, default=None,
                       help="CPU threads per training process (default 1: lanes run in parallel processes instead, "
                            "and a run's weights do not depend on how many lanes ran beside it)")
    train.add_argument("--force", action="store_true",
                       help="train every selected run again, even one whose checkpoint was trained under the same "
                            "code, data, config, seed and library versions (by default such a run is skipped)")
    train.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rosetta.models.common import TrainConfig
    from rosetta.models.run_key import current_metrics, run_key
    from rosetta.models.threads import use as use_threads

    names = lanes(args.lane)
    models = builtin_models(args.model)
    configs = {model: TrainConfig.for_model(model, epochs=args.epochs, batch_size=args.batch_size,
                                            learning_rate=args.learning_rate, seed=args.seed) for model in models}
    results = []
    if args.devices > 1:
        from rosetta.models.distributed import UNSUPPORTED, DistributedError, check
        if args.lane == "all":  # every lane that has an engine; an explicit --lane without one is refused
            for name in [n for n in names if n in UNSUPPORTED]:
                console.print(f"[yellow]skipping {name}[/]: {UNSUPPORTED[name]}")
            names = [n for n in names if n not in UNSUPPORTED]
        try:  # every run refused before the first one starts
            for config in configs.values():
                for name in names:
                    check(name, args.devices, config.batch_size)
        except DistributedError as exc:
            raise UsageError(str(exc)) from None
        for model, config in configs.items():
            for name in names:
                results.append(_train_data_parallel(model, name, config, args))
    else:
        keys = {(m, n): run_key(m, n, configs[m], args.data_dir, args.train_limit) for m in models for n in names}
        todo = []
        for (model, name), key in keys.items():
            done = None if args.force else current_metrics(args.out / contract.served_name(model, name), key)
            if done is not None:
                console.print(f"[bold]{contract.served_name(model, name)}[/]: up to date (same code, data, config "
                              f"and library versions; --force trains it again)")
                results.append({**done, "cached": True})
            else:
                todo.append((model, name))
        flags = optional_flags({"--epochs": args.epochs, "--batch-size": args.batch_size, "--learning-rate":
                                args.learning_rate, "--seed": args.seed, "--train-limit": args.train_limit})
        flags += ["--force"] if args.force else []
        by_lane = {n: [m for m, n2 in todo if n2 == n] for n in dict.fromkeys(n for _, n in todo)}
        jobs = min(args.jobs or os.cpu_count() or 1, max(1, len(by_lane)))
        threads = args.threads or 1
        use_threads(threads)
        if jobs > 1:  # every lane in a child of its own, `jobs` at a time, single-threaded
            results += _train_children(args, by_lane, flags, jobs, threads)
        else:
            results += _train_here(args, by_lane, configs, keys, flags, threads)
    table = Table(title="training summary")
    for column in ("model", "lane", "test accuracy", "train s", "epochs", "engine", "checkpoint", "run"):
        table.add_column(column)
    for m in results:
        ok = m["test_accuracy"] >= contract.ACCURACY_BAR[m["model"]] or args.train_limit
        table.add_row(m["model"], m["lane"], f"[{'green' if ok else 'red'}]{m['test_accuracy']:.4f}[/]",
                      f"{m['train_seconds']:.1f}", str(m["epochs"]), m["engine"],
                      str(args.out / m["model_name"] / m["checkpoint"]), "cached" if m.get("cached") else "trained")
    console.print(table)
    return 0


def _train_here(args: argparse.Namespace, by_lane: dict[str, list[str]], configs: dict, keys: dict,
                flags: list[str], threads: int) -> list[dict]:
    """Train the runs one after the other in this process; Keras lanes of another backend than this process's
    Keras run in a child each, afterwards."""
    from rosetta.mnist import load_split
    from rosetta.models import needs_own_process
    from rosetta.models.training import train_lane

    results = []
    train = test = None
    for name, models in by_lane.items():
        if needs_own_process(name):  # Keras runs another backend here: the lane trains in a child, below
            continue
        if train is None:
            train, test = load_split("train", args.data_dir), load_split("test", args.data_dir)
            if args.train_limit:
                train = train.head(args.train_limit)
        for model in models:
            config = configs[model]
            console.print(f"[bold]training {contract.served_name(model, name)}[/] on {len(train):,} images, "
                          f"{config}")
            results.append(train_lane(model, name, train, test, config, args.out, key=keys[model, name]))
    done = {r["lane"] for r in results}
    later = {n: ms for n, ms in by_lane.items() if n not in done}
    return results + _train_children(args, later, flags, 1, threads)


def _train_children(args: argparse.Namespace, by_lane: dict[str, list[str]], flags: list[str], jobs: int,
                    threads: int) -> list[dict]:
    """Each lane's runs in a child `rosetta train` of its own, `jobs` children at a time; their metrics."""
    from rosetta.models.training import METRICS

    commands = [(name, ["train", "--model", models[0] if len(models) == 1 else "all", *flags, "--jobs", "1",
                        "--threads", str(threads)]) for name, models in by_lane.items()]
    failed = run_children(args, commands, jobs)
    if failed:
        raise UsageError(f"training lane(s) {', '.join(failed)} failed (their child processes' errors are above)")
    return [json.loads((args.out / contract.served_name(m, name) / METRICS).read_text())
            for name, models in by_lane.items() for m in models]


def _train_data_parallel(model: str, name: str, config, args: argparse.Namespace) -> dict:
    """One lane on `--devices` devices, in processes of its own (rosetta.models.distributed.launch); returns the
    metrics its writer wrote."""
    from rosetta.models.distributed.launch import command
    from rosetta.models.training import METRICS

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
