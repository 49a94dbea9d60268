"""PyTorch DistributedDataParallel, one process per device, started by torchrun (which sets RANK, WORLD_SIZE,
LOCAL_RANK and the rendezvous): gloo on CPU, NCCL on CUDA GPUs. DDP averages the gradients across processes
during backward (bucketed all-reduce) and broadcasts rank 0's parameters and buffers; rank 0 writes.

Every process draws the lane's batch order from the same seed and takes its contiguous shard of each global
batch, so N processes at B / N examples each compute the gradient of the same mean loss over the same B."""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from rosetta.models import torch_lane
from rosetta.models.common import EpochCallback, EpochTimer, History, TrainConfig, shuffled_batches
from rosetta.models.distributed import DistributedError


def backend() -> str:
    return "nccl" if torch.cuda.is_available() else "gloo"


def init(devices: int) -> None:
    """Join the process group torchrun set up; check it has `devices` processes."""
    if not dist.is_initialized():
        if "RANK" not in os.environ:
            raise DistributedError("torch DDP runs one process per device under torchrun (it sets RANK, "
                                   "WORLD_SIZE, MASTER_ADDR); `rosetta train --lane torch --devices N` starts it")
        dist.init_process_group(backend())
    if dist.get_world_size() != devices:
        raise DistributedError(f"{devices} devices asked, the process group has {dist.get_world_size()}")


def engine(devices: int) -> str:
    return f"torch DDP {backend()} x{devices} (torchrun)"


def is_writer() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


class _Logits(nn.Module):
    """DDP synchronises gradients only for what runs through its own forward(): the lane's logits."""

    def __init__(self, model: torch_lane.Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.logits(images)


def _device() -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def train(model: torch_lane.Model, images: np.ndarray, labels: np.ndarray, config: TrainConfig, devices: int,
          on_epoch: EpochCallback | None = None) -> tuple[torch_lane.Model, History]:
    init(devices)
    rank, world = dist.get_rank(), dist.get_world_size()
    device = _device()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)  # the same on every rank: the same global batches
    x_all, y_all = torch.from_numpy(images), torch.from_numpy(labels)
    ddp = DistributedDataParallel(_Logits(model.to(device)), device_ids=[device.index] if device.index is not None
                                  else None)
    optimizer, schedule = torch_lane.make_optimizer(ddp.parameters(), config, len(labels))
    loss_fn = torch_lane.loss_function(config)
    history = History()
    ddp.train()
    for epoch in range(1, config.epochs + 1):
        timer = EpochTimer(epoch)
        for batch in shuffled_batches(len(labels), config.batch_size, rng, world):
            shard = len(batch) // world
            idx = torch.from_numpy(batch[rank * shard:(rank + 1) * shard])
            torch_lane.step(ddp, x_all[idx].to(device), y_all[idx].to(device), loss_fn, optimizer, schedule, timer)
        # The epoch's loss and accuracy over every rank's shards (a metric, not a gradient).
        totals = torch.tensor([timer.loss_sum, timer.correct, timer.seen], dtype=torch.float64, device=device)
        dist.all_reduce(totals)
        timer.loss_sum, timer.correct, timer.seen = totals[0].item(), int(totals[1].item()), int(totals[2].item())
        history.epochs.append(timer.stats())
        if on_epoch:
            on_epoch(history.epochs[-1])
    return model.to("cpu").eval(), history
