"""The parent side of `rosetta train --devices N`: the command that runs one lane's data-parallel training in
processes of its own. A fresh process is needed because the device set-up (models.distributed.devices) must
precede the framework's start; torch needs one process per device, which torchrun starts and rendezvous."""
from __future__ import annotations

import sys
from pathlib import Path

WORKER = "rosetta.models.distributed.worker"


def torchrun() -> list[str]:
    """torchrun from this interpreter's environment (its console script is torch.distributed.run)."""
    script = Path(sys.executable).with_name("torchrun")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "torch.distributed.run"]


def command(lane: str, devices: int, worker_args: list[str]) -> list[str]:
    """`worker_args`: the worker's flags (rosetta.models.distributed.worker), without --lane and --devices."""
    args = ["-m", WORKER, "--lane", lane, "--devices", str(devices), *worker_args]
    if lane == "torch":
        # --standalone: a local rendezvous on a free port; multi-node: --nnodes/--rdzv-endpoint (README).
        return [*torchrun(), "--standalone", f"--nproc-per-node={devices}", *args]
    return [sys.executable, *args]
