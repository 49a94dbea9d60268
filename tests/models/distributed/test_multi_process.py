"""Multi-node training as k8s/training runs it, with two local processes standing in for two nodes: the same
torchrun flags (--nnodes 2, --node-rank, pod 0 as master) and the same JAX cluster environment
(JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID). Each result equals single-device training,
as in test_equivalence (same K, B and tolerance)."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rosetta.models import lane
from tests.models.distributed.test_equivalence import ATOL, BATCH, EXAMPLES, MODEL, _max_abs_diff, single_device_weights

ROOT = Path(__file__).resolve().parents[3]
WORKER = ["-m", "rosetta.models.distributed.worker", "--devices", "2", "--model", MODEL, "--epochs", "1",
          "--batch-size", str(BATCH), "--train-limit", str(EXAMPLES)]

# End to end: real training processes (torchrun, two-process clusters), ~25-35 s a test here.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_commands(name: str, out: Path) -> list[tuple[list[str], dict]]:
    port, worker = _free_port(), [*WORKER, "--lane", name, "--out", str(out)]
    if name == "torch":
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1",
                    "--master-addr=127.0.0.1", f"--master-port={port}"]
        return [([*torchrun, f"--node-rank={i}", *worker], {}) for i in range(2)]
    return [([sys.executable, *worker], {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2",
                                         "JAX_PROCESS_ID": str(i)}) for i in range(2)]


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_two_nodes_match_one_device(name, train_split, tmp_path):
    procs = [subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}) for cmd, env in _node_commands(name, tmp_path)]
    try:
        codes = [p.wait(timeout=480) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert codes == [0, 0]
    module = lane(name)
    parallel = module.get_weights(module.load(tmp_path / f"{MODEL}-{name}"))
    diff = _max_abs_diff(parallel, single_device_weights(name, train_split))
    print(f"{name} (2 processes): max|diff|={diff:.3g}")
    assert diff <= ATOL
