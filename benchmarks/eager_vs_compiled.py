"""Eager vs compiled, in each lane's framework: does compilation make this model 10-100x faster?

For a built-in model (the lanes' own `build`), per framework and execution mode: the train step (forward, backward,
Adam) at two batch sizes, inference at batch 1 and 256, and per-example gradients (vmap vs a Python loop).
Modes: TensorFlow eager / tf.function / tf.function(jit_compile=True) (XLA); PyTorch eager / torch.compile
(Inductor, CPU); JAX op-by-op (jax.disable_jit) / jax.jit. Each measurement is bounded by a time budget and a call
count, in round-robin rounds; the timing is the best round's median call; compile time is the first call minus it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rosetta.models import architectures as arch

FRAMEWORKS = ("tensorflow", "torch", "jax")
TRAIN_BATCHES = (16, 256)  # the MLP's training batch and a large one
INFER_BATCHES = (1, 256)
PER_EXAMPLE_BATCH = 64
CLAIM_LOW = 10.0  # "10-100x faster with compilation": holds for a task when compiled is >= 10x faster
LEARNING_RATE = 1e-3
WARMUP_CALLS = 2  # after the first call: allocators, oneDNN primitive caches, lazily compiled backward graphs

Step = Callable[[Any, Any], tuple[Any, list[Any]]]  # (images, labels) -> (loss, gradients); applies Adam


@dataclass
class Variant:
    """One framework in one execution mode: a train step that updates its own fresh model, and inference."""
    framework: str
    mode: str
    compiled: bool
    train_step: Step
    infer: Callable[[Any], Any]
    to_numpy: Callable[[Any], np.ndarray]
    context: Callable[[], AbstractContextManager] = nullcontext  # what every call runs under (jax.disable_jit)
    inputs: Callable[[np.ndarray], Any] = lambda a: a


@dataclass
class PerExample:
    """Per-example gradients of one batch: (images, labels) -> one gradient list per parameter, [B, ...] each."""
    framework: str
    mode: str
    compiled: bool
    grads: Callable[[Any, Any], list[Any]]
    to_numpy: Callable[[Any], np.ndarray]
    inputs: Callable[[np.ndarray], Any] = lambda a: a
    extra: dict = field(default_factory=dict)


# ---- TensorFlow (Keras 3 model from the Keras lane, GradientTape, Keras Adam) ----------------------------------

def _tf_variants(model: str, seed: int) -> list[Variant]:
    import keras
    import tensorflow as tf

    from rosetta.models import keras_lane

    def make(mode: str, wrap: Callable[[Callable], Callable], compiled: bool) -> Variant:
        net = keras_lane.build(model, seed)
        optimizer = keras.optimizers.Adam(LEARNING_RATE)
        optimizer.build(net.trainable_variables)  # its slots must exist before a tf.function traces the step
        loss_fn = keras.losses.SparseCategoricalCrossentropy()  # the Keras model outputs probabilities

        def step(images, labels):
            with tf.GradientTape() as tape:
                loss = loss_fn(labels, net(images, training=True))
            grads = tape.gradient(loss, net.trainable_variables)
            optimizer.apply_gradients(zip(grads, net.trainable_variables))
            return loss, grads

        return Variant("tensorflow", mode, compiled, wrap(step), wrap(lambda images: net(images, training=False)),
                       lambda t: np.asarray(t), inputs=tf.constant)

    return [make("eager", lambda f: f, False),
            make("tf.function", lambda f: tf.function(f, reduce_retracing=True), True),
            make("tf.function+XLA", lambda f: tf.function(f, jit_compile=True, reduce_retracing=True), True)]


# ---- PyTorch (the torch lane's module, cross-entropy on its logits, fused Adam) --------------------------------

def _torch_variants(model: str, seed: int) -> list[Variant]:
    import torch

    from rosetta.models import torch_lane

    def make(mode: str, compiled: bool) -> Variant:
        net = torch_lane.build(model, seed)
        # torch.compile covers forward and backward (AOTAutograd); the fused Adam is already one kernel, eager.
        # dynamic=False: one static graph per batch size, compiled on its own first call (torch's default marks a
        # dimension dynamic on the second size it sees and recompiles then, inside the timed steady state).
        logits = torch.compile(net.logits, dynamic=False) if compiled else net.logits
        forward = torch.compile(net, dynamic=False) if compiled else net
        optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, fused=True)
        params = list(net.parameters())

        def step(images, labels):
            net.train()
            loss = torch.nn.functional.cross_entropy(logits(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grads = [p.grad.detach().clone() for p in params]
            optimizer.step()
            return loss.detach(), grads

        def infer(images):
            net.eval()
            with torch.inference_mode():
                return forward(images)

        return Variant("torch", mode, compiled, step, infer, lambda t: t.detach().numpy(),
                       inputs=lambda a: torch.from_numpy(np.ascontiguousarray(a)))

    return [make("eager", False), make("torch.compile", True)]


def _logits_module():
    import torch

    class LogitsOf(torch.nn.Module):
        """The lane's module with `logits` as forward: what torch.func.functional_call calls."""

        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.net.logits(images)
    return LogitsOf


def _torch_per_example(model: str, seed: int) -> list[PerExample]:
    import torch
    from torch.func import functional_call, grad, vmap

    from rosetta.models import torch_lane

    net = torch_lane.build(model, seed).eval()  # eval: BatchNorm (CNN) has no batch statistics for one example
    logits_module = _logits_module()(net)
    names = [n for n, _ in logits_module.named_parameters()]
    params = {n: p.detach() for n, p in logits_module.named_parameters()}

    def loss_one(p: dict, image, label):
        return torch.nn.functional.cross_entropy(functional_call(logits_module, p, (image[None],)), label[None])

    per_example = vmap(grad(loss_one), in_dims=(None, 0, 0))

    def vmapped(images, labels):
        g = per_example(params, images, labels)
        return [g[n] for n in names]

    def loop(images, labels):
        out = [torch.autograd.grad(torch.nn.functional.cross_entropy(net.logits(images[i:i + 1]),
                                                                     labels[i:i + 1]), list(net.parameters()))
               for i in range(len(labels))]
        return [torch.stack(per) for per in zip(*out)]

    to_torch = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return [PerExample("torch", "loop of autograd.grad", False, loop, lambda t: t.numpy(), to_torch),
            PerExample("torch", "torch.func.vmap(grad)", True, vmapped, lambda t: t.numpy(), to_torch)]


# ---- JAX (the JAX lane's Flax module, optax Adam) --------------------------------------------------------------

def _jax_loss(module):
    import optax

    def loss(params, batch_stats, images, labels):
        logits, updates = module.apply({"params": params, "batch_stats": batch_stats}, images, train=True,
                                       mutable=["batch_stats"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), updates
    return loss


def _jax_variants(model: str, seed: int) -> list[Variant]:
    import jax
    import optax

    from rosetta.models import jax_lane

    def make(mode: str, compiled: bool) -> Variant:
        # jax_lane.make_train_step does not return the gradients this module compares, so the same
        # value_and_grad + optax.adam step is spelled out here; state is threaded through a closure cell.
        built = jax_lane.build(model, seed)
        module, optimizer = built.module, optax.adam(LEARNING_RATE)
        loss = _jax_loss(module)

        def pure_step(params, batch_stats, opt_state, images, labels):
            (value, updates), grads = jax.value_and_grad(loss, has_aux=True)(params, batch_stats, images, labels)
            delta, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, delta), updates.get("batch_stats", batch_stats), opt_state,
                    value, grads)

        def pure_infer(variables, images):
            return jax.nn.softmax(module.apply(variables, images), axis=-1)

        run_step = jax.jit(pure_step) if compiled else pure_step
        run_infer = jax.jit(pure_infer) if compiled else pure_infer
        state = {"params": built.params, "batch_stats": built.variables["batch_stats"],
                 "opt": optimizer.init(built.params)}

        def step(images, labels):
            state["params"], state["batch_stats"], state["opt"], value, grads = jax.block_until_ready(
                run_step(state["params"], state["batch_stats"], state["opt"], images, labels))
            return value, jax.tree_util.tree_leaves(grads)

        def infer(images):
            return jax.block_until_ready(run_infer({"params": state["params"], "batch_stats": state["batch_stats"]},
                                                   images))

        return Variant("jax", mode, compiled, step, infer, np.asarray,
                       context=nullcontext if compiled else jax.disable_jit,
                       inputs=lambda a: jax.numpy.asarray(a))

    return [make("op-by-op (disable_jit)", False), make("jax.jit", True)]


def _jax_per_example(model: str, seed: int) -> list[PerExample]:
    import jax

    from rosetta.models import jax_lane

    built = jax_lane.build(model, seed)
    loss = _jax_loss(built.module)
    params, stats = built.params, built.variables["batch_stats"]

    def loss_one(p, image, label):
        return loss(p, stats, image[None], label[None])[0]

    grad_one = jax.jit(jax.grad(loss_one))
    vmapped = jax.jit(jax.vmap(jax.grad(loss_one), in_axes=(None, 0, 0)))

    def loop(images, labels):
        per = [jax.tree_util.tree_leaves(grad_one(params, images[i], labels[i])) for i in range(len(labels))]
        return jax.block_until_ready([jax.numpy.stack(leaves) for leaves in zip(*per)])

    def batched(images, labels):
        return jax.block_until_ready(jax.tree_util.tree_leaves(vmapped(params, images, labels)))

    return [PerExample("jax", "loop of jit(grad)", False, loop, np.asarray, jax.numpy.asarray),
            PerExample("jax", "jit(vmap(grad))", True, batched, np.asarray, jax.numpy.asarray)]


VARIANTS: dict[str, Callable[[str, int], list[Variant]]] = {
    "tensorflow": _tf_variants, "torch": _torch_variants, "jax": _jax_variants}
PER_EXAMPLE: dict[str, Callable[[str, int], list[PerExample]]] = {
    "torch": _torch_per_example, "jax": _jax_per_example}


# ---- timing ----------------------------------------------------------------------------------------------------

def _calls(fn: Callable[[], Any], budget_s: float, max_calls: int) -> Iterator[float]:
    start = time.perf_counter()
    for _ in range(max_calls):
        if time.perf_counter() - start >= budget_s:
            return
        t = time.perf_counter()
        fn()
        yield time.perf_counter() - t


def _measure(fn: Callable[[], Any], budget_s: float, max_calls: int, warmup: int = WARMUP_CALLS) -> dict[str, float]:
    """First call (tracing/compiling for compiled modes) timed alone, then the steady state; compile time is the
    first call minus the steady-state median (for eager modes it is first-call overhead, ~0)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    for _ in range(warmup):
        fn()
    times = list(_calls(fn, budget_s, max_calls)) or [first]
    median = float(np.median(times))
    return {"median_ms": median * 1e3, "first_call_s": first, "compile_s": max(first - median, 0.0),
            "calls": len(times)}


def _data(images: np.ndarray, labels: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    reps = -(-rows // len(images))
    return (np.ascontiguousarray(np.tile(images, (reps,) + (1,) * (images.ndim - 1))[:rows], dtype=np.float32),
            np.tile(labels, reps)[:rows].astype(np.int64))


def _labels_for(framework: str, labels: np.ndarray) -> np.ndarray:
    return labels if framework == "torch" else labels.astype(np.int32)  # torch's cross_entropy wants int64


def bench_variant(v: Variant, images: np.ndarray, labels: np.ndarray, budget_s: float, max_calls: int,
                  train_batches: tuple[int, ...] = TRAIN_BATCHES,
                  infer_batches: tuple[int, ...] = INFER_BATCHES, warmup: int = WARMUP_CALLS) -> list[dict[str, Any]]:
    rows = []
    with v.context():
        for batch in train_batches:
            x, y = _data(images, labels, batch)
            x, y = v.inputs(x), v.inputs(_labels_for(v.framework, y))
            rows.append({"task": "train_step", "batch": batch, **_measure(lambda: v.train_step(x, y), budget_s,
                                                                         max_calls, warmup)})
        for batch in infer_batches:
            x = v.inputs(_data(images, labels, batch)[0])
            rows.append({"task": "inference", "batch": batch, **_measure(lambda: v.infer(x), budget_s, max_calls,
                                                                                  warmup)})
    return [{"framework": v.framework, "mode": v.mode, "compiled": v.compiled, **r} for r in rows]


def bench_per_example(p: PerExample, images: np.ndarray, labels: np.ndarray, budget_s: float, max_calls: int,
                      batch: int = PER_EXAMPLE_BATCH, warmup: int = WARMUP_CALLS) -> dict[str, Any]:
    x, y = _data(images, labels, batch)
    x, y = p.inputs(x), p.inputs(_labels_for(p.framework, y))
    return {"framework": p.framework, "mode": p.mode, "compiled": p.compiled, "task": "per_example_grads",
            "batch": batch, **_measure(lambda: p.grads(x, y), budget_s, max_calls, warmup)}


def verdicts(rows: list[dict[str, Any]], low: float = CLAIM_LOW) -> dict[str, dict[str, Any]]:
    """Per framework, per task and batch: eager median / fastest compiled median, and whether >= `low`."""
    out: dict[str, dict[str, Any]] = {}
    for framework in dict.fromkeys(r["framework"] for r in rows):
        speedups = {}
        for task, batch in dict.fromkeys((r["task"], r["batch"]) for r in rows if r["framework"] == framework):
            group = [r for r in rows if (r["framework"], r["task"], r["batch"]) == (framework, task, batch)]
            eager = [r["median_ms"] for r in group if not r["compiled"]]
            compiled = [r["median_ms"] for r in group if r["compiled"]]
            if eager and compiled:
                speedups[f"{task}@{batch}"] = round(min(eager) / min(compiled), 2)
        holds = sorted(k for k, s in speedups.items() if s >= low)
        summary = ", ".join(f"{k} {s:.1f}x" for k, s in speedups.items())
        claim = ("holds for every task" if len(holds) == len(speedups) else
                 "does not hold for any task" if not holds else f"holds only for {', '.join(holds)}")
        verdict = f"{framework}: '10-100x faster with compilation' (>= {low:.0f}x) {claim} ({summary})"
        out[framework] = {"speedups": speedups, "claim_holds_for": holds, "verdict": verdict}
    return out


def _best_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One measurement over rounds: the lowest round median (on this shared 2-core machine another process taking
    a core only ever slows a round: the same torch step measured 1.9 and 65 ms medians in two runs), every round's
    median, and compile time from round 1's first call, the only one that compiles."""
    best = min(r["median_ms"] for r in runs)
    return {**runs[0], "median_ms": best, "median_ms_rounds": [r["median_ms"] for r in runs],
            "compile_s": max(runs[0]["first_call_s"] - best / 1e3, 0.0), "calls": sum(r["calls"] for r in runs)}


def run(images: np.ndarray, labels: np.ndarray, model: str = arch.MLP, seed: int = 0, budget_s: float = 2.0,
        max_calls: int = 500, frameworks: tuple[str, ...] = FRAMEWORKS,
        train_batches: tuple[int, ...] = TRAIN_BATCHES, infer_batches: tuple[int, ...] = INFER_BATCHES,
        per_example_batch: int = PER_EXAMPLE_BATCH, warmup: int = WARMUP_CALLS, rounds: int = 3,
        log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Every framework in every mode on `model`; `images`/`labels` are cycled to fill each batch. Per measurement
    and round: the first call, `warmup` untimed calls, then timed calls until `budget_s / rounds` or `max_calls`.
    Rounds are round-robin over every variant, so a slow spell of the machine hits eager and compiled alike."""
    variants = [v for f in frameworks for v in VARIANTS[f](model, seed)]
    per_example = [p for f in frameworks for p in PER_EXAMPLE.get(f, lambda *_: [])(model, seed)]
    runs: dict[tuple, list[dict[str, Any]]] = {}
    for round_ in range(1, rounds + 1):
        for v in variants:
            measured = bench_variant(v, images, labels, budget_s / rounds, max_calls, train_batches, infer_batches,
                                     warmup)
            log(f"  [{round_}/{rounds}] {v.framework:<10} {v.mode:<24} " + "  ".join(
                f"{r['task']}@{r['batch']} {r['median_ms']:.3f} ms" for r in measured))
            for r in measured:
                runs.setdefault((r["framework"], r["mode"], r["task"], r["batch"]), []).append(r)
        for p in per_example:
            r = bench_per_example(p, images, labels, budget_s / rounds, max_calls, per_example_batch, warmup)
            log(f"  [{round_}/{rounds}] {p.framework:<10} {p.mode:<24} per_example_grads@{per_example_batch} "
                f"{r['median_ms']:.3f} ms")
            runs.setdefault((r["framework"], r["mode"], r["task"], r["batch"]), []).append(r)
    rows = [_best_round(group) for group in runs.values()]
    return {"model": model, "budget_seconds_per_measure": budget_s, "rounds": rounds, "max_calls": max_calls,
            "rows": rows, "verdicts": verdicts(rows)}


def first_step_outputs(framework: str, images: np.ndarray, labels: np.ndarray, model: str = arch.MLP,
                       seed: int = 0) -> dict[str, tuple[float, list[np.ndarray], np.ndarray]]:
    """Per mode, from a fresh model built with `seed`: the first train step's loss and gradients, and the
    inference output. What eager and compiled must agree on."""
    out = {}
    for v in VARIANTS[framework](model, seed):
        with v.context():
            probs = v.to_numpy(v.infer(v.inputs(images)))
            loss, grads = v.train_step(v.inputs(images), v.inputs(_labels_for(framework, labels)))
            out[v.mode] = (float(v.to_numpy(loss)), [v.to_numpy(g) for g in grads], probs)
    return out


def per_example_outputs(framework: str, images: np.ndarray, labels: np.ndarray, model: str = arch.MLP,
                        seed: int = 0) -> dict[str, list[np.ndarray]]:
    return {p.mode: [p.to_numpy(g) for g in p.grads(p.inputs(images), p.inputs(_labels_for(framework, labels)))]
            for p in PER_EXAMPLE[framework](model, seed)}


# ---- report ----------------------------------------------------------------------------------------------------

def plot(result: dict[str, Any], out: Any) -> None:
    """One log-scale bar panel per task and batch: every framework/mode's median call."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    rows = result["rows"]
    panels = list(dict.fromkeys((r["task"], r["batch"]) for r in rows))
    colours = {"tensorflow": "#dd8452", "torch": "#c44e52", "jax": "#4c72b0"}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, (task, batch) in zip(axes[0], panels):
        group = [r for r in rows if (r["task"], r["batch"]) == (task, batch)]
        labels = [f"{r['framework']}\n{r['mode']}" for r in group]
        ax.barh(labels, [r["median_ms"] for r in group],
                color=[to_rgba(colours.get(r["framework"], "grey"), 1.0 if r["compiled"] else 0.4) for r in group])
        ax.set_xscale("log")
        ax.set_title(f"{task.replace('_', ' ')}, batch {batch}\nmedian ms per call (log; pale = eager)",
                     fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.invert_yaxis()
    fig.suptitle(f"{result['model']}: eager vs compiled", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def print_table(result: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    for framework, verdict in result["verdicts"].items():
        rows = [r for r in result["rows"] if r["framework"] == framework]
        table = Table(title=f"{result['model']} eager vs compiled, {framework} (median per call, best of "
                      f"{result['rounds']} rounds)",
                      caption=verdict["verdict"])
        for column in ("task", "batch", "mode", "median ms", "vs eager", "compile s", "calls"):
            table.add_column(column, justify="right")
        for r in rows:
            eager = [e["median_ms"] for e in rows if (e["task"], e["batch"]) == (r["task"], r["batch"])
                     and not e["compiled"]]
            table.add_row(r["task"], str(r["batch"]), r["mode"], f"{r['median_ms']:.3f}",
                          f"{min(eager) / r['median_ms']:.1f}x" if eager else "-", f"{r['compile_s']:.2f}",
                          str(r["calls"]))
        console.print(table)
