"""Atomic writes: build in a temp location beside the target, then rename over it."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def _scratch_beside(target: Path) -> Iterator[Path]:
    """A temp dir on the target's filesystem (so the final rename is atomic), removed afterwards."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty dir; on success it replaces `target`, on error it vanishes and `target` is untouched."""
    target = Path(target)
    with _scratch_beside(target) as scratch:
        staged, old = scratch / "new", scratch / "old"
        staged.mkdir()
        yield staged
        if target.exists():
            os.replace(target, old)
        os.replace(staged, target)


@contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temp path with the target's name (some savers check the suffix); rename on success."""
    target = Path(target)
    with _scratch_beside(target) as scratch:
        staged = scratch / target.name
        yield staged
        os.replace(staged, target)


def write_json(path: Path, payload: Any) -> None:
    with atomic_file(Path(path)) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")
