"""Dynamic batching: concurrent requests to one model share one ONNX Runtime run.

Requests queue while a batch runs; the next batch takes everything queued (up to max_batch_size rows) and,
if that is less than a full batch, waits up to max_delay for more, counted from the oldest request's
arrival so no request waits longer than max_delay for company. Large batches run on one worker thread per
model (ORT releases the GIL) so the event loop keeps parsing requests meanwhile; small ones run inline,
because handing a ~50 us run to a thread and back costs more than the run (measured: ~250 us per request).
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

RunFn = Callable[[np.ndarray], np.ndarray]
INLINE_MAX_ROWS = 64  # ~0.25 ms of ORT on the dev machine: the longest we block the event loop for


async def run_rows(run: RunFn, x: np.ndarray, executor: ThreadPoolExecutor) -> np.ndarray:
    if len(x) <= INLINE_MAX_ROWS:
        return run(x)
    return await asyncio.get_running_loop().run_in_executor(executor, run, x)


class DynamicBatcher:
    def __init__(self, run: RunFn, *, max_batch_size: int, max_delay_s: float, name: str = "model",
                 on_batch: Callable[[int], None] | None = None) -> None:
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self._on_batch = on_batch
        self._pending: deque[tuple[np.ndarray, asyncio.Future[np.ndarray], float]] = deque()
        self._rows = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ort-{name}")
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._full: asyncio.Event | None = None

    async def submit(self, x: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if self._task is None:  # started lazily: the loop only exists once the server runs
            self._wakeup, self._full = asyncio.Event(), asyncio.Event()
            self._task = loop.create_task(self._work())
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._pending.append((x, future, time.monotonic()))
        self._rows += len(x)
        self._wakeup.set()
        if self._rows >= self.max_batch_size:
            self._full.set()
        return await future

    async def _work(self) -> None:
        assert self._wakeup is not None and self._full is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                if self._rows < self.max_batch_size and self.max_delay_s > 0:
                    remaining = self._pending[0][2] + self.max_delay_s - time.monotonic()
                    if remaining > 0:
                        self._full.clear()
                        try:
                            await asyncio.wait_for(self._full.wait(), remaining)
                        except TimeoutError:
                            pass
                await self._run_batch(self._take())

    def _take(self) -> list[tuple[np.ndarray, asyncio.Future[np.ndarray]]]:
        """Oldest first, at least one request, never splitting one; stops before max_batch_size is passed."""
        items, rows = [], 0
        while self._pending and (not items or rows + len(self._pending[0][0]) <= self.max_batch_size):
            x, future, _ = self._pending.popleft()
            self._rows -= len(x)
            if not future.done():  # the client went away: skip its rows
                items.append((x, future))
                rows += len(x)
        return items

    async def _run_batch(self, items: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]]) -> None:
        if not items:
            return
        try:
            batch = items[0][0] if len(items) == 1 else np.concatenate([x for x, _ in items])
            if self._on_batch:
                self._on_batch(len(batch))
            out = await run_rows(self._run, batch, self._executor)
        except Exception as exc:  # a failed run fails the requests of its batch, never the batcher
            for _, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for x, future in items:
            if not future.done():
                future.set_result(out[start:start + len(x)])
            start += len(x)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)


class DirectRunner:
    """No batching: every request is its own ORT run (the baseline the benchmark compares against)."""

    def __init__(self, run: RunFn, *, name: str = "model", on_batch: Callable[[int], None] | None = None,
                 threads: int = 2) -> None:
        self._run = run
        self._on_batch = on_batch
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"ort-{name}")

    async def submit(self, x: np.ndarray) -> np.ndarray:
        if self._on_batch:
            self._on_batch(len(x))
        return await run_rows(self._run, x, self._executor)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
