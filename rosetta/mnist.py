"""MNIST from the vendored IDX files: parsed, checksum-verified, scaled to the model contract."""
from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rosetta.core.package_data import mnist_dir

DEFAULT_DATA_DIR = mnist_dir()  # shipped with the package
CHECKSUM_FILE = "SHA256SUMS.raw"

IMAGES_MAGIC = 0x00000803  # ubyte, 3 dimensions
LABELS_MAGIC = 0x00000801  # ubyte, 1 dimension

# split -> (images file, labels file, number of examples)
SPLITS: dict[str, tuple[str, str, int]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}


class DataError(Exception):
    """A data file is missing, truncated, corrupted or not the expected IDX file."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # float32 [N, 28, 28] in [0, 1]
    labels: np.ndarray  # int64 [N]

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> "Split":
        return Split(self.images[:n], self.labels[:n])


def parse_idx(raw: bytes, *, magic: int, dims: tuple[int, ...], name: str) -> np.ndarray:
    """Parse one IDX buffer, checking magic, dimensions and length against what is expected."""
    header_len = 4 + 4 * len(dims)
    if len(raw) < header_len:
        raise DataError(f"{name}: truncated, {len(raw)} bytes is shorter than the {header_len}-byte IDX header")
    (found_magic,) = struct.unpack(">I", raw[:4])
    if found_magic != magic:
        raise DataError(f"{name}: bad magic number 0x{found_magic:08x}, expected 0x{magic:08x}")
    found_dims = struct.unpack(f">{len(dims)}I", raw[4:header_len])
    if found_dims != dims:
        raise DataError(f"{name}: dimensions {found_dims}, expected {dims}")
    expected_len = header_len + int(np.prod(dims))
    if len(raw) != expected_len:
        raise DataError(f"{name}: {len(raw)} bytes, expected {expected_len} (header + {dims} uint8)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def _expected_checksums(data_dir: Path) -> dict[str, str]:
    path = data_dir / CHECKSUM_FILE
    if not path.is_file():
        raise DataError(f"{path}: missing; it lists the SHA-256 of each decompressed IDX file")
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, filename = line.split()
            sums[filename.lstrip("*")] = digest
    return sums


def _read_verified(data_dir: Path, stem: str, checksums: dict[str, str]) -> bytes:
    path = data_dir / f"{stem}.gz"
    if not path.is_file():
        raise DataError(f"{path}: missing (expected the gzip-compressed IDX file {stem})")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc})") from None
    if stem not in checksums:
        raise DataError(f"{data_dir / CHECKSUM_FILE}: has no checksum for {stem}")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != checksums[stem]:
        raise DataError(f"{path}: SHA-256 of the decompressed bytes is {digest}, expected {checksums[stem]}")
    return raw


def load_split(split: str, data_dir: Path | str | None = None) -> Split:
    """Load `train` or `test`: float32 images [N, 28, 28] in [0, 1] and int64 labels [N]."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA_DIR
    images_stem, labels_stem, n = SPLITS[split]
    checksums = _expected_checksums(data_dir)
    images = parse_idx(_read_verified(data_dir, images_stem, checksums),
                       magic=IMAGES_MAGIC, dims=(n, 28, 28), name=str(data_dir / images_stem))
    labels = parse_idx(_read_verified(data_dir, labels_stem, checksums),
                       magic=LABELS_MAGIC, dims=(n,), name=str(data_dir / labels_stem))
    if labels.max() > 9:
        raise DataError(f"{data_dir / labels_stem}: label {labels.max()} outside 0-9")
    return Split((images.astype(np.float32) / 255.0), labels.astype(np.int64))
