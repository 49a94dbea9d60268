"""Peak memory of one export cell: the exporter's process and every process it starts (onnx2tf, node for TF.js).

A sampler thread reads the resident set of the process tree every PERIOD_S while a cell runs; the cell's
`extra` memory is its peak minus the RSS when it began (what converting and validating it cost on top of the
model already loaded). Sampling misses spikes shorter than the period; ru_maxrss would not (but it is the
process's lifetime peak, not the cell's), so the manifest records both.
"""
from __future__ import annotations

import resource
import threading
from types import TracebackType

import psutil

PERIOD_S = 0.05


def tree_rss(process: psutil.Process) -> int:
    """RSS of a process and all its descendants, in bytes (a process gone meanwhile counts 0)."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


class CellMemory:
    """`with CellMemory() as m: ...` then m.record(): start, peak and extra RSS of the process tree, in bytes."""

    def __init__(self, period_s: float = PERIOD_S) -> None:
        self.period_s = period_s
        self._process = psutil.Process()
        self._stop = threading.Event()
        self.start_bytes = self.peak_bytes = 0
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.period_s):
            self.peak_bytes = max(self.peak_bytes, tree_rss(self._process))

    def __enter__(self) -> CellMemory:
        self.start_bytes = self.peak_bytes = tree_rss(self._process)
        self._thread = threading.Thread(target=self._sample, name="cell-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_bytes = max(self.peak_bytes, tree_rss(self._process))

    def record(self) -> dict[str, int]:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        return {"start_rss_bytes": self.start_bytes, "peak_rss_bytes": self.peak_bytes,
                "extra_rss_bytes": max(0, self.peak_bytes - self.start_bytes),
                "process_max_rss_bytes": own, "children_max_rss_bytes": children}
