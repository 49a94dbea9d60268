"""Load benchmark of the ORT server on loopback, beside MLServer: `make bench-serve` -> artifacts/bench/serve.json
+ serve.png (table and chart: every serving target, measured, passed or short by how much).

One served model (`--model`, default the manifest's first onnx entry), random valid inputs from its spec:
- single-example requests at 1, 16 and 64 concurrent connections (closed loop, `--seconds` each): the REST
  protocols (TF Serving REST, KServe v2 REST JSON) with `wrk`, the C load generator, so the client does not
  eat the server's CPU; v2 gRPC with `h2load` (nghttp2's C HTTP/2 load generator) re-sending one framed
  ModelInferRequest, checked once beforehand through a real gRPC client against the model run in process, with
  non-OK gRPC answers counted from the server's own per-status counter; and, as a cross-check at 16
  connections, the Python grpc.aio client ("v2-grpc-python", its CPU use recorded);
- batched requests (500 examples each, 4 clients): v2 gRPC with h2load (and the Python client as a
  cross-check), then with Python clients v2 REST with the binary tensor extension (what tritonclient sends),
  v2 REST JSON and TF Serving REST;
- server RSS (the whole process tree) sampled over a sustained `--rss-seconds` v2 REST run;
- in-process ONNX Runtime with the server's session settings: the ceiling, and the server's fraction of it;
- MLServer 1.7.1 (its own virtualenv, a custom ONNX Runtime runtime, the same ONNX file), v2 REST JSON with wrk
  at the same concurrencies: the anchor.
Client and servers share this machine's cores; the load average at start and end goes into the report.
Every loop is bounded in time (and the Python ones in request count).
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import orjson
import psutil

from benchmarks.serving.clients import JSON, RestClient, Tensors, TfRest, V2Grpc, V2Rest, example_inputs
from benchmarks.serving.h2load import check_grpc_body, grpc_frame, h2load_grpc_point
from benchmarks.serving.mlserver_anchor import MLServerProcess
from benchmarks.serving.process import ServerProcess
from benchmarks.serving.wrk import wrk_point
from rosetta.core.atomic import write_json
from rosetta.core.manifest import ServedVersion, served
from rosetta.core.spec import ModelSpec
from rosetta.serving.runtime.model import FORMAT

PROTOCOLS = ("tfserving-rest", "v2-rest", "v2-grpc")
BATCHED = ("v2-grpc", "v2-rest-binary", "v2-rest", "tfserving-rest")
PYTHON_BATCHED = ("v2-grpc-python", "v2-rest-binary", "v2-rest", "tfserving-rest")  # v2-grpc: h2load
CONCURRENCY = (1, 16, 64)
BATCH = 500
BATCH_CLIENTS = 4
CLIENT_PROCESSES = 2
MAX_REQUESTS = 200_000  # per Python-client measurement, on top of the time bound
Send = Callable[[], Awaitable[None]]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] bench: {message}", flush=True)


def percentiles(latencies: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 90, 99)} if len(ms) else {}


def process_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its workers (MLServer's inference workers too)."""
    total = 0
    for p in process_tree(pid):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return round(total / 2**20, 1)


class CpuMeter:
    """CPU seconds used by the server's process tree and by this (client) process over an interval, as % of a
    core."""

    def __init__(self, server_pid: int) -> None:
        self.server, self.client = process_tree(server_pid), [psutil.Process()]

    def __enter__(self) -> CpuMeter:
        self.t0 = time.perf_counter()
        self.s0, self.c0 = _cpu_seconds(self.server), _cpu_seconds(self.client)
        return self

    def __exit__(self, *_: object) -> None:
        wall = time.perf_counter() - self.t0
        self.server_pct = round(100 * (_cpu_seconds(self.server) - self.s0) / wall, 1)
        self.client_pct = round(100 * (_cpu_seconds(self.client) - self.c0) / wall, 1)


async def _latencies(send: Send, concurrency: int, seconds: float) -> tuple[list[float], int, float]:
    """`concurrency` clients, each sending its next request when the previous answer arrives:
    (latencies, errors, wall seconds)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < deadline and len(latencies) + errors < MAX_REQUESTS:
            start = time.perf_counter()
            try:
                await send()
                latencies.append(time.perf_counter() - start)
            except Exception:  # counted, not raised: one failure must not end the measurement
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - start


def _summary(concurrency: int, latencies: list[float], errors: int, wall: float, cpu: CpuMeter, client: str) -> dict:
    return {"concurrency": concurrency, "requests": len(latencies), "errors": errors,
            "req_per_s": round(len(latencies) / wall, 1), **percentiles(latencies),
            "server_cpu_pct": cpu.server_pct, "client_cpu_pct": cpu.client_pct, "client": client,
            "server_cpu_us_per_request": cpu_us_per_request(cpu.server_pct, len(latencies) / wall)}


def cpu_us_per_request(cpu_pct: float, req_per_s: float) -> float | None:
    """Server CPU time per request: what a request costs, whatever else the shared machine was running."""
    return round(cpu_pct / 100 / req_per_s * 1e6, 1) if req_per_s else None


async def closed_loop(send: Send, concurrency: int, seconds: float, server_pid: int) -> dict:
    """A closed-loop point from this process."""
    with CpuMeter(server_pid) as cpu:
        latencies, errors, wall = await _latencies(send, concurrency, seconds)
    return _summary(concurrency, latencies, errors, wall, cpu, "python")


def _grpc_client_process(target: str, request: bytes, concurrency: int, seconds: float
                         ) -> tuple[list[float], int, float]:
    """One client process's share of a gRPC point (its own channel)."""
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

    message = pb.ModelInferRequest.FromString(request)

    async def run() -> tuple[list[float], int, float]:
        rpc = V2Grpc(target)
        try:
            await rpc.infer(message)  # connect before the clock starts
            return await _latencies(lambda: rpc.infer(message), concurrency, seconds)
        finally:
            await rpc.close()

    return asyncio.run(run())


def grpc_point(pool: ProcessPoolExecutor, target: str, request: bytes, concurrency: int, seconds: float,
               server_pid: int) -> dict:
    """A gRPC closed-loop point from CLIENT_PROCESSES processes: one Python grpc.aio client tops out below
    what the server answers, so the connections are split between processes."""
    procs = min(CLIENT_PROCESSES, concurrency)
    shares = [concurrency // procs + (i < concurrency % procs) for i in range(procs)]
    with CpuMeter(server_pid) as cpu:
        futures = [pool.submit(_grpc_client_process, target, request, share, seconds) for share in shares]
        parts = [f.result() for f in futures]
    latencies = [x for part in parts for x in part[0]]
    return _summary(concurrency, latencies, sum(p[1] for p in parts), max(p[2] for p in parts), cpu,
                    f"python x{procs} processes")


async def open_loop(send: Send, rate: float, seconds: float, server_pid: int) -> dict:
    """Requests at a fixed arrival rate; latency counts from the scheduled send time, so a client that falls
    behind shows up as latency instead of silently lowering the load."""
    count = min(int(rate * seconds), MAX_REQUESTS)
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float) -> None:
        nonlocal errors
        try:
            await send()
            latencies.append(time.perf_counter() - scheduled)
        except Exception:
            errors += 1

    tasks = []
    with CpuMeter(server_pid) as cpu:
        t0 = time.perf_counter()
        for i in range(count):
            scheduled = t0 + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(scheduled)))
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    return {"target_req_per_s": round(rate, 1), "achieved_req_per_s": round(len(latencies) / wall, 1),
            "requests": len(latencies), "errors": errors, **percentiles(latencies),
            "server_cpu_pct": cpu.server_pct, "client_cpu_pct": cpu.client_pct}


def _rows(inputs: Tensors, n: int) -> Tensors:
    return {name: x[:n] for name, x in inputs.items()}


def v2_binary_request(inputs: Tensors, spec: ModelSpec) -> tuple[bytes, dict[str, str]]:
    """A v2 REST body with the binary tensor extension (JSON header, then the raw tensors), asking for binary
    outputs, as tritonclient sends it."""
    header = orjson.dumps({"inputs": [{"name": n, "datatype": spec.input(n).datatype, "shape": list(x.shape),
                                       "parameters": {"binary_data_size": x.nbytes}} for n, x in inputs.items()],
                           "parameters": {"binary_data_output": True}})
    body = header + b"".join(np.ascontiguousarray(x).tobytes() for x in inputs.values())
    return body, {"content-type": "application/octet-stream", "inference-header-content-length": str(len(header))}


def senders(rest: RestClient, rpc: V2Grpc, model: str, inputs: Tensors, spec: ModelSpec | None = None
            ) -> dict[str, Send]:
    """One pre-encoded request per protocol, so the loop measures the server, not the client's encoding."""
    tf_body, v2_body, grpc_req = TfRest.encode(inputs), V2Rest.encode(inputs), V2Grpc.encode(model, inputs)

    def post(path: str, body: bytes, headers: dict[str, str]) -> Send:
        async def send() -> None:
            answer = await rest.post(path, body, headers)
            if answer.status != 200:
                raise RuntimeError(answer.status)
        return send

    async def grpc_call() -> None:
        await rpc.infer(grpc_req)

    out = {"tfserving-rest": post(TfRest.path(model), tf_body, JSON),
           "v2-rest": post(V2Rest.path(model), v2_body, JSON),
           "v2-grpc": grpc_call}
    if spec is not None:
        out["v2-rest-binary"] = post(V2Rest.path(model), *v2_binary_request(inputs, spec))
    return out


def rest_single_bodies(model: str, inputs: Tensors) -> dict[str, tuple[str, bytes]]:
    return {"tfserving-rest": (TfRest.path(model), TfRest.encode(inputs)),
            "v2-rest": (V2Rest.path(model), V2Rest.encode(inputs))}


def with_cpu(pid: int, measure: Callable[[], dict]) -> dict:
    with CpuMeter(pid) as cpu:
        point = measure()
    return {**point, "server_cpu_pct": cpu.server_pct,
            "server_cpu_us_per_request": cpu_us_per_request(cpu.server_pct, point["req_per_s"])}


def sustained_rss(server: ServerProcess, path: str, body: bytes, seconds: float, every: float = 5.0) -> dict:
    """A v2 REST run of `seconds` at 16 connections with the server's RSS sampled every `every` seconds."""
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(
        wrk_point(server.http_url + path, body, 16, seconds)), daemon=True)
    samples = [(0.0, rss_mb(server.pid))]
    t0 = time.perf_counter()
    worker.start()
    while worker.is_alive():
        worker.join(every)
        samples.append((round(time.perf_counter() - t0, 1), rss_mb(server.pid)))
    first_loaded = samples[1][1] if len(samples) > 2 else samples[0][1]  # after the first interval: warm
    return {"seconds": seconds, "samples_mb": samples, "growth_mb": round(samples[-1][1] - first_loaded, 1),
            "load": result}


async def batched_points(server: ServerProcess, model: str, inputs: Tensors, spec: ModelSpec, seconds: float) -> dict:
    """Requests of BATCH examples from BATCH_CLIENTS Python clients: every protocol but v2 gRPC, which h2load
    drives, plus v2 gRPC from Python as a cross-check."""
    rest, rpc = RestClient(server.http_url, connections=BATCH_CLIENTS), V2Grpc(server.grpc_target)
    batched = senders(rest, rpc, model, _rows(inputs, BATCH), spec)
    batched["v2-grpc-python"] = batched["v2-grpc"]
    out: dict = {}
    try:
        for protocol in PYTHON_BATCHED:
            log(f"{protocol} batched ({BATCH} examples per request, {BATCH_CLIENTS} clients)")
            point = await closed_loop(batched[protocol], BATCH_CLIENTS, seconds, server.pid)
            point["examples_per_s"] = round(point["req_per_s"] * BATCH, 1)
            out[protocol] = point
    finally:
        await rest.close()
        await rpc.close()
    return out


def checked_grpc_bodies(server: ServerProcess, model: ServedVersion, inputs: Tensors) -> dict[int, bytes]:
    """The framed ModelInferRequests h2load sends (1 and BATCH rows), each answered once through a real gRPC
    client and compared with the model run in process with the server's session settings."""
    from rosetta.serving.runtime.session import create_session

    session = create_session(model.source.read_bytes())
    names = model.spec.output_names
    bodies = {}
    for rows in (1, BATCH):
        x = _rows(inputs, rows)
        bodies[rows] = grpc_frame(V2Grpc.encode(model.name, x).SerializeToString())
        check_grpc_body(server.grpc_target, bodies[rows], dict(zip(names, session.run(names, x), strict=True)))
    return bodies


def bench_rosetta(artifacts: Path, model: ServedVersion, inputs: Tensors, seconds: float, rss_seconds: float,
                  workers: int | None) -> dict:
    flags = ["--workers", str(workers)] if workers else []
    with ServerProcess(artifacts, extra_args=flags) as server:
        n_procs = len(process_tree(server.pid))
        log(f"rosetta server up ({n_procs} processes), {rss_mb(server.pid)} MB")
        result: dict = {"flags": flags, "processes": n_procs, "rss_mb_before": rss_mb(server.pid), "single": {}}
        bodies = rest_single_bodies(model.name, _rows(inputs, 1))
        for protocol, (path, body) in bodies.items():
            wrk_point(server.http_url + path, body, 8, 1)  # warm-up
            points = []
            for c in CONCURRENCY:
                log(f"{protocol} single, {c} connections (wrk)")
                points.append(with_cpu(server.pid, lambda: wrk_point(server.http_url + path, body, c, seconds)))
            result["single"][protocol] = points
        grpc_bodies = checked_grpc_bodies(server, model, inputs)
        metrics_url = server.http_url + "/metrics"

        def h2load(body: bytes, connections: int) -> dict:
            return with_cpu(server.pid, lambda: h2load_grpc_point(server.grpc_target, metrics_url, body,
                                                                  connections, seconds, model.name))

        h2load_grpc_point(server.grpc_target, metrics_url, grpc_bodies[1], 8, 1, model.name)  # warm-up
        points = []
        for c in CONCURRENCY:
            log(f"v2-grpc single, {c} connections (h2load)")
            points.append(h2load(grpc_bodies[1], c))
        result["single"]["v2-grpc"] = points
        with ProcessPoolExecutor(CLIENT_PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
            request = grpc_bodies[1][5:]  # the same serialized message, without the gRPC frame header
            grpc_point(pool, server.grpc_target, request, CLIENT_PROCESSES * 4, 1, server.pid)  # warm-up
            log("v2-grpc single, 16 connections (Python grpc.aio clients, cross-check)")
            result["single"]["v2-grpc-python"] = [grpc_point(pool, server.grpc_target, request, 16, seconds,
                                                             server.pid)]
        log(f"v2-grpc batched ({BATCH} examples per request, {BATCH_CLIENTS} connections, h2load)")
        grpc_batched = h2load(grpc_bodies[BATCH], BATCH_CLIENTS)
        grpc_batched["examples_per_s"] = round(grpc_batched["req_per_s"] * BATCH, 1)
        result["batched"] = {"v2-grpc": grpc_batched, **asyncio.run(batched_points(server, model.name, inputs, model.spec, seconds))}
        if rss_seconds > 0:
            log(f"sustained v2-rest run for {rss_seconds:.0f} s, RSS sampled")
            result["rss"] = sustained_rss(server, *bodies["v2-rest"], rss_seconds)
        result["rss_mb_after"] = rss_mb(server.pid)
    return result


def bench_mlserver(model: ServedVersion, inputs: Tensors, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="rosetta-mlserver-") as workdir, \
            MLServerProcess(model.name, model.source, Path(workdir)) as server:
        log(f"MLServer up ({len(process_tree(server.pid))} processes)")
        path, body = V2Rest.path(model.name), V2Rest.encode(_rows(inputs, 1))
        wrk_point(server.http_url + path, body, 8, 1)  # warm-up
        points = []
        for c in CONCURRENCY:
            log(f"MLServer v2-rest single, {c} connections (wrk)")
            points.append(with_cpu(server.pid, lambda: wrk_point(server.http_url + path, body, c, seconds)))
        return {"version": "1.7.1", "single": {"v2-rest": points}, "rss_mb": rss_mb(server.pid)}


def in_process_ceiling(model_file: Path, inputs: Tensors, seconds: float) -> dict:
    """The same ORT settings as the server, no server: the most any protocol could deliver."""
    from rosetta.serving.runtime.session import create_session

    session = create_session(model_file.read_bytes())
    out: dict = {}
    for label, n in (("single", 1), ("batched", BATCH)):
        batch = _rows(inputs, n)
        session.run(None, batch)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds and runs < MAX_REQUESTS:
            session.run(None, batch)
            runs += 1
        wall = time.perf_counter() - start
        out[label] = {"runs_per_s": round(runs / wall, 1), "examples_per_s": round(runs * n / wall, 1)}
    return out


def _at(points: list[dict], concurrency: int) -> dict:
    return next(p for p in points if p["concurrency"] == concurrency)


def evaluate_targets(report: dict) -> list[dict]:
    """The serving targets against this run: measured, threshold, pass, and the shortfall when not met."""
    ros = report["rosetta"]
    single, batched = ros["single"], ros["batched"]
    targets = []

    def target(name: str, measured: float, threshold: float, unit: str, higher_is_better: bool = True) -> None:
        ok = measured >= threshold if higher_is_better else measured <= threshold
        short = None if ok else (f"{100 * (1 - measured / threshold):.0f}% below" if higher_is_better
                                 else f"{measured / threshold:.1f}x over")
        targets.append({"target": name, "measured": round(measured, 1), "threshold": round(threshold, 1),
                        "unit": unit, "passed": ok, "shortfall": short})

    v2_16 = _at(single["v2-rest"], 16)["req_per_s"]
    if report.get("mlserver"):
        anchor = _at(report["mlserver"]["single"]["v2-rest"], 16)["req_per_s"]
        target("v2 REST JSON c=16 >= 3x MLServer", v2_16, 3 * anchor, "req/s")
    target("v2 REST JSON c=16 >= 2,000 req/s", v2_16, 2000, "req/s")
    target("TF Serving REST c=16 >= 3,000 req/s", _at(single["tfserving-rest"], 16)["req_per_s"], 3000, "req/s")
    target("v2 gRPC single c=16 >= 3,000 req/s", _at(single["v2-grpc"], 16)["req_per_s"], 3000, "req/s")
    target(f"v2 gRPC batched ({BATCH}) >= 100k images/s", batched["v2-grpc"]["examples_per_s"], 100_000, "images/s")
    target(f"v2 REST binary batched ({BATCH}) >= 100k images/s", batched["v2-rest-binary"]["examples_per_s"],
           100_000, "images/s")
    for protocol in PROTOCOLS:
        target(f"{protocol} p99 at c=64 <= 50 ms", _at(single[protocol], 64)["p99_ms"], 50, "ms",
               higher_is_better=False)
    errors = sum(p["errors"] for points in single.values() for p in points) + sum(
        p["errors"] for p in batched.values()) + (ros["rss"]["load"]["errors"] if "rss" in ros else 0)
    target("errors = 0", errors, 0, "errors", higher_is_better=False)
    if "rss" in ros:
        target(f"RSS flat over {ros['rss']['seconds']:.0f} s (growth <= 10 MB)", ros["rss"]["growth_mb"], 10, "MB",
               higher_is_better=False)
    return targets


def ceiling_fractions(report: dict) -> dict:
    ceiling = report["in_process_ort"]
    single = report["rosetta"]["single"]
    return {"single_c16": {p: round(_at(single[p], 16)["req_per_s"] / ceiling["single"]["runs_per_s"], 3)
                           for p in PROTOCOLS},
            "batched": {p: round(v["examples_per_s"] / ceiling["batched"]["examples_per_s"], 3)
                        for p, v in report["rosetta"]["batched"].items()}}


def chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(17, 11))
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 1.25])
    ax_rps, ax_p99, ax_img = (fig.add_subplot(grid[0, i]) for i in range(3))
    single = report["rosetta"]["single"]
    series = [(f"rosetta {p} ({single[p][0]['client']})", single[p], f"C{i}") for i, p in enumerate(PROTOCOLS)]
    if report.get("mlserver"):
        series.append(("MLServer v2-rest (wrk)", report["mlserver"]["single"]["v2-rest"], "C3"))
    for label, points, color in series:
        xs = [p["concurrency"] for p in points]
        ax_rps.plot(xs, [p["req_per_s"] for p in points], marker="o", color=color, label=label)
        ax_p99.plot(xs, [p["p99_ms"] for p in points], marker="o", color=color, label=label)
    ax_rps.axhline(3000, color="grey", linestyle=":", label="target 3,000 (TF REST, gRPC)")
    ax_rps.axhline(2000, color="grey", linestyle="--", label="target 2,000 (v2 REST)")
    ax_p99.axhline(50, color="grey", linestyle=":", label="target p99 50 ms at c=64")
    for ax, title, unit in ((ax_rps, "single-example throughput", "requests/s"),
                            (ax_p99, "single-example p99 latency", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(CONCURRENCY, [str(c) for c in CONCURRENCY])
        ax.set_xlabel("concurrent connections")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax_p99.set_yscale("log")
    batched = report["rosetta"]["batched"]
    labels = [*batched, "in-process ORT"]
    values = [v["examples_per_s"] for v in batched.values()] + [report["in_process_ort"]["batched"]["examples_per_s"]]
    bars = ax_img.bar(range(len(values)), values, color=[f"C{i}" for i in range(len(values) - 1)] + ["C7"])
    ax_img.bar_label(bars, [f"{v / 1000:.0f}k" for v in values], fontsize=8)
    ax_img.axhline(100_000, color="grey", linestyle=":", label="target 100k (gRPC, REST binary)")
    ax_img.set_xticks(range(len(values)), labels, fontsize=7)
    ax_img.set_yscale("log")
    ax_img.set_ylabel("examples/s (log)")
    ax_img.set_title(f"batched requests ({BATCH} examples, {BATCH_CLIENTS} clients)")
    ax_img.legend(fontsize=7)
    ax_table = fig.add_subplot(grid[1, :])
    ax_table.axis("off")
    rows = [[t["target"], f"{t['measured']:,.1f} {t['unit']}", f"{t['threshold']:,.1f}",
             "pass" if t["passed"] else f"short: {t['shortfall']}"] for t in report["targets"]]
    ceiling, fractions = report["in_process_ort"], report.get("fraction_of_in_process_ceiling", {})
    info = [["in-process ORT ceiling, single example", f"{ceiling['single']['runs_per_s']:,.0f} runs/s", "", "info"],
            [f"in-process ORT ceiling, batch {BATCH}", f"{ceiling['batched']['examples_per_s']:,.0f} examples/s", "",
             "info"]]
    info += [[f"server / ceiling: {p} single c=16", f"{f:.1%}", "", "info"]
             for p, f in fractions.get("single_c16", {}).items()]
    info += [[f"server / ceiling: {p} batched", f"{f:.1%}", "", "info"]
             for p, f in fractions.get("batched", {}).items()]
    table = ax_table.table(cellText=rows + info, colLabels=["target", "measured", "threshold", "result"],
                           loc="upper center", colWidths=[0.42, 0.18, 0.12, 0.16], cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    for (row, _), cell in table.get_celld().items():
        if 0 < row <= len(rows):
            cell.set_facecolor("#e3f4e3" if report["targets"][row - 1]["passed"] else "#f8e0e0")
        elif row > len(rows):
            cell.set_facecolor("#f0f0f0")
    load = report["machine"]
    fig.suptitle(f"{report['model']}: rosetta ORT server ({report['rosetta']['processes']} processes) vs MLServer "
                 f"{report.get('mlserver', {}).get('version', '(not run)')} on {load['cpus']} shared cores; "
                 f"load average {load['load_avg_at_start'][0]} at start, {load.get('load_avg_at_end', ['?'])[0]} "
                 "at end; clients on the same machine")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_table(report: dict) -> None:
    ceiling = report["in_process_ort"]
    print(f"in-process ORT: {ceiling['single']['runs_per_s']:.0f} single-example runs/s, "
          f"{ceiling['batched']['examples_per_s']:.0f} examples/s at batch {BATCH}")
    print(f"{'server':<10}{'protocol':<16}{'conc':>5}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
          f"{'errors':>7}{'srv cpu%':>9}{'cpu us/req':>11}  client")
    runs = [("rosetta", report["rosetta"]["single"])]
    if report.get("mlserver"):
        runs.append(("mlserver", report["mlserver"]["single"]))
    for server, single in runs:
        for protocol, points in single.items():
            for p in points:
                print(f"{server:<10}{protocol:<16}{p['concurrency']:>5}{p['req_per_s']:>9.0f}{p['p50_ms']:>9.2f}"
                      f"{p['p90_ms']:>9.2f}{p['p99_ms']:>9.2f}{p['errors']:>7}{p['server_cpu_pct']:>9.0f}"
                      f"{p.get('server_cpu_us_per_request') or 0:>11.0f}  {p['client']}")
    for protocol, b in report["rosetta"]["batched"].items():
        print(f"{'rosetta':<10}{protocol:<16}{'b' + str(BATCH):>5}{b['examples_per_s']:>9.0f} examples/s, "
              f"p99 {b['p99_ms']:.1f} ms, errors {b['errors']}")
    rss = report["rosetta"].get("rss")
    if rss:
        print(f"RSS over {rss['seconds']:.0f} s: {rss['samples_mb']} -> growth {rss['growth_mb']} MB")
    for kind, values in report.get("fraction_of_in_process_ceiling", {}).items():
        print(f"fraction of the in-process ceiling ({kind}): " + ", ".join(f"{p} {f:.1%}" for p, f in values.items()))
    print("targets:")
    for t in report["targets"]:
        print(f"  {'PASS' if t['passed'] else 'SHORT':<6}{t['target']:<52}{t['measured']:>12,.1f} {t['unit']}"
              + ("" if t["passed"] else f"  ({t['shortfall']})"))


def pick_model(artifacts: Path, name: str | None) -> ServedVersion:
    versions = served(artifacts, FORMAT).versions
    if name is None:
        return versions[0]
    for model in versions:
        if model.name == name:
            return model
    raise SystemExit(f"bench: no served model {name!r} in {artifacts}; models: {[m.name for m in versions]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--model", default=None, help="served model to load (default: the manifest's first)")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench"))
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement point")
    parser.add_argument("--rss-seconds", type=float, default=60.0, help="sustained run for the RSS check (0: skip)")
    parser.add_argument("--workers", type=int, default=None, help="server --workers (default: the server's own)")
    parser.add_argument("--no-mlserver", action="store_true", help="skip the MLServer anchor")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    model = pick_model(args.artifacts, args.model)
    inputs = example_inputs(model.spec, BATCH)
    report: dict = {"model": model.name, "spec": model.spec.to_json(), "batch_examples": BATCH,
                    "seconds_per_point": args.seconds,
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}}
    log(f"model {model.name}; in-process ONNX Runtime ceiling")
    report["in_process_ort"] = in_process_ceiling(model.source, inputs, args.seconds)
    report["rosetta"] = bench_rosetta(args.artifacts, model, inputs, args.seconds, args.rss_seconds, args.workers)
    if not args.no_mlserver:
        report["mlserver"] = bench_mlserver(model, inputs, args.seconds)
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["targets"] = evaluate_targets(report)
    report["fraction_of_in_process_ceiling"] = ceiling_fractions(report)
    report["bench_seconds"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "serve.json", report)
    chart(report, args.out / "serve.png")
    print_table(report)
    log(f"done in {report['bench_seconds']:.0f} s: {args.out / 'serve.json'}, {args.out / 'serve.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
