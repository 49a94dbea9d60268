import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rosetta.cli", *args], capture_output=True, text=True, timeout=60)


def test_unknown_lane_is_a_usage_error_listing_valid_lanes():
    proc = _run("train", "--lane", "mxnet")
    assert proc.returncode == 2
    assert "invalid choice: 'mxnet'" in proc.stderr
    for lane in ("keras", "torch", "jax", "keras-jax", "keras-torch", "all"):
        assert lane in proc.stderr


def test_non_positive_epochs_rejected():
    proc = _run("train", "--epochs", "0")
    assert proc.returncode == 2 and "positive integer" in proc.stderr
