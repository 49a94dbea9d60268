"""The dynamic batcher merges concurrent requests (any number of named inputs and outputs), keeps each
request's rows, never mixes shapes it cannot concatenate, and survives failures."""
import asyncio
import time

import numpy as np
import pytest

from rosetta.serving.runtime.batcher import INLINE_MAX_ROWS, DirectRunner, DynamicBatcher


class Recorder:
    """A fake two-input, two-output model: `sum` = a + b row by row, `double` = 2 * a; records every run's
    size and shapes."""

    def __init__(self, delay_s: float = 0.0, fail: bool = False) -> None:
        self.sizes: list[int] = []
        self.shapes: list[tuple] = []
        self.delay_s = delay_s
        self.fail = fail

    def __call__(self, x: dict) -> dict:
        self.sizes.append(len(x["a"]))
        self.shapes.append(x["a"].shape[1:])
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("boom")
        return {"sum": x["a"] + x["b"], "double": x["a"] * 2}


def _requests(sizes: list[int], width: int = 2) -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"a": rng.random((n, width), dtype=np.float32), "b": rng.integers(0, 9, (n, width)).astype(np.float32)}
            for n in sizes]


def _expected(x: dict) -> dict:
    return {"sum": x["a"] + x["b"], "double": x["a"] * 2}


def _same(out: dict, expected: dict) -> None:
    assert sorted(out) == sorted(expected)
    for name in out:
        np.testing.assert_array_equal(out[name], expected[name])


async def _submit_all(runner, xs):
    return await asyncio.gather(*(runner.submit(x) for x in xs))


def test_concurrent_requests_share_runs_and_get_their_own_rows():
    run = Recorder(delay_s=0.002)
    batcher = DynamicBatcher(run, max_batch_size=64, max_delay_s=0.005)
    xs = _requests([1, 3, 2, 5, 1, 1, 4, 2] * 4)
    outs = asyncio.run(_submit_all(batcher, xs))
    for x, out in zip(xs, outs, strict=True):
        _same(out, _expected(x))
    assert sum(run.sizes) == sum(len(x["a"]) for x in xs)
    assert len(run.sizes) < len(xs) / 4, run.sizes  # 32 requests in a handful of runs


def test_batches_never_exceed_max_batch_size_nor_split_a_request():
    run = Recorder()
    batcher = DynamicBatcher(run, max_batch_size=8, max_delay_s=0.01)
    xs = _requests([3] * 10 + [20])  # 20 > 8: runs alone, unsplit
    asyncio.run(_submit_all(batcher, xs))
    assert 20 in run.sizes
    assert all(size <= 8 for size in run.sizes if size != 20), run.sizes


def test_lone_request_waits_at_most_about_max_delay():
    batcher = DynamicBatcher(Recorder(), max_batch_size=64, max_delay_s=0.02)

    async def one() -> float:
        start = time.perf_counter()
        await batcher.submit(_requests([1])[0])
        return time.perf_counter() - start

    assert 0.015 < asyncio.run(one()) < 0.5


def test_failed_run_fails_its_requests_and_the_batcher_keeps_working():
    run = Recorder(fail=True)
    batcher = DynamicBatcher(run, max_batch_size=16, max_delay_s=0.001)

    async def scenario():
        results = await asyncio.gather(*(batcher.submit(x) for x in _requests([1, 2])), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        run.fail = False
        return await batcher.submit(_requests([2])[0])

    assert asyncio.run(scenario())["sum"].shape == (2, 2)


@pytest.mark.parametrize("rows", [1, INLINE_MAX_ROWS + 1])
def test_direct_runner_is_one_run_per_request(rows):
    run = Recorder()
    xs = _requests([rows] * 5)
    outs = asyncio.run(_submit_all(DirectRunner(run), xs))
    assert run.sizes == [rows] * 5
    for x, out in zip(xs, outs, strict=True):
        _same(out, _expected(x))


def test_requests_whose_free_dimensions_differ_are_never_concatenated():
    run = Recorder(delay_s=0.002)
    batcher = DynamicBatcher(run, max_batch_size=64, max_delay_s=0.005)
    xs = [x for width in (2, 3, 5) for x in _requests([1, 2, 3], width=width)]
    xs = xs[::2] + xs[1::2]  # interleave the widths in the queue
    outs = asyncio.run(_submit_all(batcher, xs))
    for x, out in zip(xs, outs, strict=True):
        _same(out, _expected(x))
    assert len(run.sizes) < len(xs)  # same-shape requests still share runs
    assert sum(run.sizes) == sum(len(x["a"]) for x in xs)


def test_a_model_that_changes_the_row_count_fails_the_merged_batch_not_the_batcher():
    def reduces(x: dict) -> dict:
        time.sleep(0.002)
        return {"total": x["a"].sum(0, keepdims=True)}

    batcher = DynamicBatcher(reduces, max_batch_size=64, max_delay_s=0.01)

    async def scenario():
        merged = await asyncio.gather(*(batcher.submit(x) for x in _requests([2, 3])), return_exceptions=True)
        alone = await batcher.submit(_requests([2])[0])
        return merged, alone

    merged, alone = asyncio.run(scenario())
    assert all(isinstance(r, RuntimeError) and "dimension 0" in str(r) for r in merged)
    assert alone["total"].shape == (1, 2)
