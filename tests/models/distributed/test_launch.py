"""What `rosetta train --devices N` refuses, the commands it starts, and the device set-up before a framework
starts; the training itself is proven in test_equivalence."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rosetta.models.common import shuffled_batches
from rosetta.models.distributed import UNSUPPORTED, DistributedError, check
from rosetta.models.distributed.launch import WORKER, command

ROOT = Path(__file__).resolve().parents[3]


def test_batch_that_does_not_split_evenly_is_refused():
    with pytest.raises(DistributedError, match="global batch size 16 must split evenly over 3 devices"):
        check("torch", 3, 16)
    check("torch", 4, 16)


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_lanes_without_an_engine_are_refused_with_the_reason(name):
    with pytest.raises(DistributedError, match=f"lane {name!r} has no data-parallel engine: .*--devices 1"):
        check(name, 2, 64)


def test_unknown_lane_is_refused():
    with pytest.raises(DistributedError, match="unknown lane 'mxnet'"):
        check("mxnet", 2, 64)


def test_torch_runs_under_torchrun_and_the_others_in_one_process():
    torch_cmd = command("torch", 4, ["--model", "mnist-mlp"])
    assert Path(torch_cmd[0]).name in ("torchrun", "python", Path(sys.executable).name)
    i = torch_cmd.index("--standalone")
    assert torch_cmd[i:i + 4] == ["--standalone", "--nproc-per-node=4", "-m", WORKER]
    assert torch_cmd[-6:] == ["--lane", "torch", "--devices", "4", "--model", "mnist-mlp"]
    assert command("jax", 2, []) == [sys.executable, "-m", WORKER, "--lane", "jax", "--devices", "2"]


def test_cli_refuses_an_uneven_split_before_starting_anything():
    proc = subprocess.run([sys.executable, "-m", "rosetta.cli", "train", "--lane", "torch", "--devices", "3",
                           "--batch-size", "16"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert "must split evenly over 3 devices" in proc.stderr


def test_jax_sees_the_host_devices_configured_before_it_starts():
    code = ("from models.distributed import devices; devices.configure('jax', 3); "
            "import jax; print(jax.device_count())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "3"  # the flag replaced, not appended to a conflicting one


def test_batches_cut_to_a_multiple_keep_the_single_device_order():
    single = list(shuffled_batches(70, 16, np.random.default_rng(0)))
    parallel = list(shuffled_batches(70, 16, np.random.default_rng(0), multiple_of=4))
    assert [len(b) for b in single] == [16, 16, 16, 16, 6]
    assert [len(b) for b in parallel] == [16, 16, 16, 16, 4]
    for a, b in zip(single, parallel):
        np.testing.assert_array_equal(a[:len(b)], b)
    assert list(shuffled_batches(65, 16, np.random.default_rng(0), multiple_of=2))[-1].size == 16  # 1 left: dropped
