"""`rosetta train`: the built-in models in one lane or all, on one device or data-parallel."""
from __future__ import annotations

import argparse
import json
import subprocess

from rich.table import Table

from rosetta import contract
from rosetta.cli.common import TrainingError, UsageError, builtin_models, console, in_child, lanes, optional_flags
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
    train.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rosetta.mnist import load_split
    from rosetta.models import needs_own_process
    from rosetta.models.common import TrainConfig
    from rosetta.models.training import METRICS, train_lane

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
        train, test = load_split("train", args.data_dir), load_split("test", args.data_dir)
        if args.train_limit:
            train = train.head(args.train_limit)
        for model, config in configs.items():
            for name in names:
                if needs_own_process(name):  # Keras runs another backend here: the lane trains in a child, below
                    continue
                console.print(f"[bold]training {contract.served_name(model, name)}[/] on {len(train):,} images, "
                              f"{config}")
                results.append(train_lane(model, name, train, test, config, args.out))
        flags = optional_flags({"--epochs": args.epochs, "--batch-size": args.batch_size, "--learning-rate":
                                args.learning_rate, "--seed": args.seed, "--train-limit": args.train_limit})
        for name in [n for n in names if n not in {r["lane"] for r in results}]:
            if in_child(args, name, ["train", "--model", args.model, *flags]) != 0:
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
