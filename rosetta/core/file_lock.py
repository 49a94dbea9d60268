"""An exclusive advisory lock on a file beside the data it guards (POSIX flock), for read-modify-write cycles."""
from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(lock_path: Path, wait: bool = True, create: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on `lock_path` (created if missing) for the block; released even on error. Yields
    True once held; with `wait=False` it does not wait for another holder and yields False instead (the block
    then runs without the lock: check the value). With `create=False` a missing lock file (or its directory)
    raises FileNotFoundError instead of being created.

    flock locks belong to the open file, so two exports (or an export and `rosetta release`) in different
    processes serialise, and a crashed holder releases it with its file descriptors."""
    lock_path = Path(lock_path)
    if create:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b" if create else "r+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
