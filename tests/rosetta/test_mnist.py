import gzip
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rosetta.mnist import DEFAULT_DATA_DIR, DataError, load_split, parse_idx

# Test-set label counts 0-9, from the MNIST README in data/mnist.
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_test_split_matches_contract(test_split):
    assert test_split.images.shape == (10_000, 28, 28)
    assert test_split.images.dtype == np.float32
    assert test_split.images.min() == 0.0 and test_split.images.max() == 1.0
    assert np.bincount(test_split.labels, minlength=10).tolist() == TEST_LABEL_COUNTS


def test_train_split_shape(train_split):
    assert train_split.images.shape == (60_000, 28, 28)
    assert train_split.labels.shape == (60_000,)


def _idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims) + payload


def test_parse_idx_accepts_wellformed():
    arr = parse_idx(_idx(0x801, (3,), bytes([1, 2, 3])), magic=0x801, dims=(3,), name="x")
    assert arr.tolist() == [1, 2, 3]


@pytest.mark.parametrize("raw, match", [
    (_idx(0x803, (3,), bytes(3)), "bad magic"),
    (_idx(0x801, (4,), bytes(4)), "dimensions"),
    (_idx(0x801, (3,), bytes(2)), "expected 11"),
    (b"\x00\x00", "truncated"),
])
def test_parse_idx_rejects(raw, match):
    with pytest.raises(DataError, match=match):
        parse_idx(raw, magic=0x801, dims=(3,), name="x")


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    for f in DEFAULT_DATA_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
        (tmp_path / f.name).chmod(0o644)
    return tmp_path


def test_flipped_byte_fails_checksum(data_copy):
    path = data_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] ^= 0x01
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: SHA-256"):
        load_split("test", data_copy)


def test_truncated_gzip(data_copy):
    path = data_copy / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: not a readable gzip"):
        load_split("test", data_copy)


def test_missing_file(data_copy):
    (data_copy / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: missing"):
        load_split("test", data_copy)


def test_cli_exits_nonzero_naming_the_corrupt_file(data_copy, tmp_path):
    path = data_copy / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"not gzip at all")
    proc = subprocess.run([sys.executable, "-m", "rosetta.cli", "--data-dir", str(data_copy),
                           "--out", str(tmp_path / "out"), "train", "--lane", "jax"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "train-labels-idx1-ubyte.gz: not a readable gzip file" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
