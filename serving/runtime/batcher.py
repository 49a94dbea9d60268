"""Dynamic batching: concurrent requests to one model share one ONNX Runtime run.

A request is a dict of named input arrays sharing dimension 0; a batch concatenates each input along it and
splits each output back by rows. Requests queue while a batch runs; the next batch takes everything queued
(up to max_batch_size rows) whose non-batch dimensions match the oldest request's (inputs with free
dimensions, e.g. sequence length, cannot be concatenated otherwise; the rest wait for a later batch) and, if
that is less than a full batch, waits up to max_delay for more, counted from the oldest request's arrival so
no request waits longer than max_delay for company. Large batches run on one worker thread per
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

Tensors = dict[str, np.ndarray]
RunFn = Callable[[Tensors], Tensors]
INLINE_MAX_ROWS = 64  # ~0.25 ms of ORT for the 784-128-64-10 demo MLP here: the longest we block the loop


def rows(x: Tensors) -> int:
    return len(next(iter(x.values())))


def _shape_key(x: Tensors) -> tuple:
    return tuple((name, a.shape[1:]) for name, a in x.items())


def _concatenate(xs: list[Tensors]) -> Tensors:
    return {name: np.concatenate([x[name] for x in xs]) for name in xs[0]}


async def run_rows(run: RunFn, x: Tensors, executor: ThreadPoolExecutor) -> Tensors:
    if rows(x) <= INLINE_MAX_ROWS:
        return run(x)
    return await asyncio.get_running_loop().run_in_executor(executor, run, x)


class DynamicBatcher:
    def __init__(self, run: RunFn, *, max_batch_size: int, max_delay_s: float, name: str = "model",
                 on_batch: Callable[[int], None] | None = None) -> None:
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self._on_batch = on_batch
        self._pending: deque[tuple[Tensors, asyncio.Future[Tensors], float]] = deque()
        self._rows = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ort-{name}")
        self._task: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._full: asyncio.Event | None = None

    async def submit(self, x: Tensors) -> Tensors:
        loop = asyncio.get_running_loop()
        if self._task is None:  # started lazily: the loop only exists once the server runs
            self._wakeup, self._full = asyncio.Event(), asyncio.Event()
            self._task = loop.create_task(self._work())
        future: asyncio.Future[Tensors] = loop.create_future()
        self._pending.append((x, future, time.monotonic()))
        self._rows += rows(x)
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

    def _take(self) -> list[tuple[Tensors, asyncio.Future[Tensors]]]:
        """Oldest first, at least one request, never splitting one; stops before max_batch_size is passed.
        Requests whose non-batch shapes differ from the oldest's stay queued, in order."""
        items: list[tuple[Tensors, asyncio.Future[Tensors]]] = []
        taken, key, kept = 0, None, []
        while self._pending:
            entry = self._pending.popleft()
            x, future, _ = entry
            n = rows(x)
            if future.done():  # the client went away: drop its rows
                self._rows -= n
                continue
            k = _shape_key(x)
            key = k if key is None else key
            if k != key:
                kept.append(entry)
                continue
            if items and taken + n > self.max_batch_size:
                kept.append(entry)
                break
            items.append((x, future))
            taken += n
            self._rows -= n
        self._pending.extendleft(reversed(kept))
        return items
    async def _run_batch(self, items: list[tuple[Tensors, asyncio.Future[Tensors]]]) -> None:
        if not items:
            return
        try:
            batch = items[0][0] if len(items) == 1 else _concatenate([x for x, _ in items])
            total = rows(batch)
            if self._on_batch:
                self._on_batch(total)
            out = await run_rows(self._run, batch, self._executor)
            wrong = {name: len(a) for name, a in out.items() if len(a) != total}
            if wrong and len(items) > 1:  # rows cannot be handed back to their requests
                raise RuntimeError(f"model returned {wrong} rows for a batch of {total}; outputs must keep "
                                   "dimension 0 as the batch")
        except Exception as exc:  # a failed run fails the requests of its batch, never the batcher
            for _, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        if len(items) == 1:
            if not items[0][1].done():
                items[0][1].set_result(out)
            return
        start = 0
        for x, future in items:
            n = rows(x)
            if not future.done():
                future.set_result({name: a[start:start + n] for name, a in out.items()})
            start += n

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

    async def submit(self, x: Tensors) -> Tensors:
        if self._on_batch:
            self._on_batch(rows(x))
        return await run_rows(self._run, x, self._executor)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
