"""One lane's data-parallel training run, in its own process(es): `python -m rosetta.models.distributed.worker` (JAX,
Keras: one process, N devices) or under torchrun (torch: N processes), and in each pod of k8s/training. Devices
are configured before anything imports a framework; then rosetta.training.train_lane trains, evaluates and
(rank 0) writes as usual. Imports nothing but numpy before that (rosetta.contract, rosetta.data)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rosetta import contract
from rosetta.mnist import DEFAULT_DATA_DIR
from rosetta.models.distributed import DistributedError
from rosetta.models.distributed import devices as device_setup


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rosetta.models.distributed.worker", description=__doc__)
    parser.add_argument("--lane", required=True)
    parser.add_argument("--devices", type=int, required=True, help="over all processes")
    parser.add_argument("--model", required=True)
    parser.add_argument("--epochs", type=int, default=None, help="default: the model's own")
    parser.add_argument("--batch-size", type=int, default=None, help="global; default: the model's own")
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the model's own")
    parser.add_argument("--seed", type=int, default=contract.SEED)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        device_setup.configure(args.lane, args.devices)  # before the imports below start a framework
        return _train(args)
    except DistributedError as exc:
        print(f"rosetta train: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.lane == "torch":
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()


def _train(args: argparse.Namespace) -> int:
    from rosetta.mnist import load_split
    from rosetta.models.common import TrainConfig
    from rosetta.models.training import train_lane

    train, test = load_split("train", args.data_dir), load_split("test", args.data_dir)
    if args.train_limit:
        train = train.head(args.train_limit)
    config = TrainConfig.for_model(args.model, epochs=args.epochs, batch_size=args.batch_size,
                                   learning_rate=args.learning_rate, seed=args.seed)
    train_lane(args.model, args.lane, train, test, config, args.out, devices=args.devices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
