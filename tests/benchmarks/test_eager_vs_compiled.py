"""benchmarks.eager_vs_compiled: well-formed rows for every framework and mode, and eager == compiled (not speed)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import eager_vs_compiled as cb

ROWS = 4  # tiny batches: correctness, not timing


@pytest.fixture(scope="module")
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((ROWS, 28, 28), dtype=np.float32), rng.integers(0, 10, ROWS)


def test_run_gives_a_row_per_framework_mode_and_task(batch, tmp_path) -> None:
    result = cb.run(*batch, budget_s=0.0, max_calls=1, warmup=0, rounds=2, train_batches=(ROWS,),
                    infer_batches=(1, ROWS), per_example_batch=ROWS)
    rows = result["rows"]
    modes = {(r["framework"], r["mode"]) for r in rows}
    assert {f for f, _ in modes} == set(cb.FRAMEWORKS)
    assert len(modes) == 3 + 2 + 2 + 2 + 2  # tf 3 modes, torch 2 + 2 per-example, jax 2 + 2 per-example
    for framework, mode in modes:
        tasks = sorted((r["task"], r["batch"]) for r in rows if (r["framework"], r["mode"]) == (framework, mode))
        assert tasks in ([("inference", 1), ("inference", ROWS), ("train_step", ROWS)],
                         [("per_example_grads", ROWS)]), (framework, mode, tasks)
    for r in rows:
        assert r["median_ms"] > 0 and r["calls"] >= 1 and r["first_call_s"] > 0 and r["compile_s"] >= 0, r
        assert isinstance(r["compiled"], bool) and len(r["median_ms_rounds"]) == 2
        assert r["median_ms"] == min(r["median_ms_rounds"])
    per_example = [r for r in rows if r["task"] == "per_example_grads"]
    assert {(r["framework"], r["compiled"]) for r in per_example} == {(f, c) for f in ("torch", "jax")
                                                                       for c in (False, True)}
    verdicts = result["verdicts"]
    assert set(verdicts) == set(cb.FRAMEWORKS)
    for framework, v in verdicts.items():
        assert set(v["speedups"]) >= {f"train_step@{ROWS}", "inference@1", f"inference@{ROWS}"}
        assert set(v["claim_holds_for"]) <= set(v["speedups"]) and framework in v["verdict"]
    json.dumps(result)  # goes into bench.json as is
    cb.plot(result, tmp_path / "compile.png")
    assert (tmp_path / "compile.png").read_bytes()[:4] == b"\x89PNG"


def test_verdicts_compare_eager_to_the_fastest_compiled_mode() -> None:
    rows = [{"framework": "f", "task": "t", "batch": 1, "compiled": c, "median_ms": ms}
            for c, ms in ((False, 30.0), (True, 6.0), (True, 2.0))]
    rows += [{"framework": "f", "task": "u", "batch": 1, "compiled": c, "median_ms": ms}
             for c, ms in ((False, 3.0), (True, 1.0))]
    v = cb.verdicts(rows)["f"]
    assert v["speedups"] == {"t@1": 15.0, "u@1": 3.0} and v["claim_holds_for"] == ["t@1"]
    assert "holds only for t@1" in v["verdict"]


@pytest.mark.parametrize("framework", cb.FRAMEWORKS)
def test_eager_and_compiled_agree_on_loss_gradients_and_outputs(framework, batch) -> None:
    outputs = cb.first_step_outputs(framework, *batch)
    (eager_mode, (loss, grads, probs)), *compiled = outputs.items()
    assert compiled and np.isfinite(loss) and any(np.abs(g).max() > 0 for g in grads)
    for mode, (c_loss, c_grads, c_probs) in compiled:
        np.testing.assert_allclose(c_loss, loss, rtol=1e-5, err_msg=f"{framework} {mode} loss")
        assert len(c_grads) == len(grads)
        for g, c in zip(grads, c_grads):
            np.testing.assert_allclose(c, g, rtol=1e-4, atol=1e-6, err_msg=f"{framework} {mode} gradients")
        np.testing.assert_allclose(c_probs, probs, rtol=1e-4, atol=1e-6, err_msg=f"{framework} {mode} outputs")


@pytest.mark.parametrize("framework", sorted(cb.PER_EXAMPLE))
def test_vmapped_per_example_gradients_match_the_loop(framework, batch) -> None:
    (loop_mode, loop), (vmap_mode, vmapped) = cb.per_example_outputs(framework, *batch).items()
    assert len(loop) == len(vmapped) and all(g.shape[0] == ROWS for g in loop)
    for a, b in zip(loop, vmapped):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6, err_msg=f"{framework} {vmap_mode} vs {loop_mode}")
    # per-example gradients differ between examples: not one batch gradient broadcast
    assert not np.allclose(loop[0][0], loop[0][1])
