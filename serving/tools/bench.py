"""Load benchmark of the ORT server on loopback: `make bench-serve` -> artifacts/bench/serve.json + serve.png.

One served model (`--model`, default the manifest's first onnx entry), random valid inputs from its spec.
Per protocol (TF Serving REST, KServe v2 REST, v2 gRPC) and server mode (dynamic batching on / off):
single-example requests at concurrency 1, 8, 32, 64 (closed loop, fixed time each) with p50/p95/p99; batched
requests (500 examples each); an open-loop run at half the peak single-example rate for its p99; server RSS
before/after; and in-process ONNX Runtime as the ceiling. Client and server share this machine's cores, so
the client's CPU use is recorded next to the server's. Every loop is bounded in time and request count.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import psutil

from rosetta.atomic import write_json

from rosetta.spec import ModelSpec
from serving.runtime.manifest import ServedModel, load_served_models
from serving.tools.clients import RestClient, Tensors, TfRest, V2Grpc, V2Rest, example_inputs
from serving.tools.process import ServerProcess

PROTOCOLS = ("tfserving-rest", "v2-rest", "v2-grpc")
CONCURRENCY = (1, 8, 32, 64)
BATCH = 500
MAX_REQUESTS = 200_000  # per measurement, on top of the time bound
Send = Callable[[], Awaitable[None]]


def percentiles(latencies: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 95, 99)} if len(ms) else {}


class CpuMeter:
    """CPU seconds used by the server process and by this (client) process over an interval, as % of a core."""

    def __init__(self, server_pid: int) -> None:
        self.server, self.client = psutil.Process(server_pid), psutil.Process()

    def __enter__(self) -> CpuMeter:
        self.t0 = time.perf_counter()
        self.s0, self.c0 = sum(self.server.cpu_times()[:2]), sum(self.client.cpu_times()[:2])
        return self

    def __exit__(self, *_: object) -> None:
        wall = time.perf_counter() - self.t0
        self.server_pct = round(100 * (sum(self.server.cpu_times()[:2]) - self.s0) / wall, 1)
        self.client_pct = round(100 * (sum(self.client.cpu_times()[:2]) - self.c0) / wall, 1)


async def closed_loop(send: Send, concurrency: int, seconds: float, server_pid: int) -> dict:
    """`concurrency` clients, each sending its next request when the previous answer arrives."""
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

    with CpuMeter(server_pid) as cpu:
        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return {"concurrency": concurrency, "requests": len(latencies), "errors": errors,
            "req_per_s": round(len(latencies) / wall, 1), **percentiles(latencies),
            "server_cpu_pct": cpu.server_pct, "client_cpu_pct": cpu.client_pct}


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


def senders(rest: RestClient, rpc: V2Grpc, model: str, inputs: Tensors) -> dict[str, Send]:
    """One pre-encoded request per protocol, so the loop measures the server, not the client's encoding."""
    tf_body, v2_body, grpc_req = TfRest.encode(inputs), V2Rest.encode(inputs), V2Grpc.encode(model, inputs)

    async def tf() -> None:
        answer = await rest.post(TfRest.path(model), tf_body)
        if answer.status != 200:
            raise RuntimeError(answer.status)

    async def v2() -> None:
        answer = await rest.post(V2Rest.path(model), v2_body)
        if answer.status != 200:
            raise RuntimeError(answer.status)

    async def grpc_call() -> None:
        await rpc.infer(grpc_req)

    return {"tfserving-rest": tf, "v2-rest": v2, "v2-grpc": grpc_call}


def rss_mb(pid: int) -> float:
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


async def bench_server(server: ServerProcess, model: str, inputs: Tensors, seconds: float) -> dict:
    rest, rpc = RestClient(server.http_url, connections=max(CONCURRENCY)), V2Grpc(server.grpc_target)
    single, batched = senders(rest, rpc, model, _rows(inputs, 1)), senders(rest, rpc, model, _rows(inputs, BATCH))
    result: dict = {"rss_mb_before": rss_mb(server.pid), "single": {}, "batched": {}, "half_peak": {}}
    try:
        for protocol in PROTOCOLS:
            await closed_loop(single[protocol], 8, 0.5, server.pid)  # warm-up: connections, code paths
            result["single"][protocol] = [await closed_loop(single[protocol], c, seconds, server.pid)
                                          for c in CONCURRENCY]
            point = await closed_loop(batched[protocol], 4, seconds, server.pid)
            point["examples_per_s"] = round(point["req_per_s"] * BATCH, 1)
            result["batched"][protocol] = point
            peak = max(p["req_per_s"] for p in result["single"][protocol])
            result["half_peak"][protocol] = await open_loop(single[protocol], peak / 2, seconds, server.pid)
    finally:
        await rest.close()
        await rpc.close()
    result["rss_mb_after"] = rss_mb(server.pid)
    return result


def in_process_ceiling(model_file: Path, inputs: Tensors, seconds: float) -> dict:
    """The same ORT settings as the server, no server: the most any protocol could deliver."""
    from serving.runtime.session import create_session

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


def chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_rps, ax_p99, ax_img) = plt.subplots(1, 3, figsize=(16, 4.8))
    for mode, style in (("batching", "-"), ("no-batching", "--")):
        for i, protocol in enumerate(PROTOCOLS):
            points = report["modes"][mode]["single"][protocol]
            xs = [p["concurrency"] for p in points]
            line = {"linestyle": style, "marker": "o", "color": f"C{i}", "label": f"{protocol} ({mode})"}
            ax_rps.plot(xs, [p["req_per_s"] for p in points], **line)
            ax_p99.plot(xs, [p["p99_ms"] for p in points], **line)
    for ax, title, unit in ((ax_rps, "single-example throughput", "requests/s"), (ax_p99, "single-example p99", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(CONCURRENCY, [str(c) for c in CONCURRENCY])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    ax_rps.legend(fontsize=7)
    labels, values = [], []
    for mode in ("batching", "no-batching"):
        for protocol in PROTOCOLS:
            labels.append(f"{protocol}\n{mode}")
            values.append(report["modes"][mode]["batched"][protocol]["examples_per_s"])
    labels.append("in-process\nORT")
    values.append(report["in_process_ort"]["batched"]["examples_per_s"])
    bars = ax_img.bar(range(len(values)), values, color=["C0", "C1", "C2"] * 2 + ["C7"])
    ax_img.bar_label(bars, [f"{v / 1000:.0f}k" for v in values], fontsize=7)
    ax_img.set_xticks(range(len(values)), labels, fontsize=6)
    ax_img.set_yscale("log")
    ax_img.set_ylabel("examples/s (log)")
    ax_img.set_title(f"batched requests ({BATCH} examples, 4 clients)")
    fig.suptitle(f"ORT server on {report['machine']['cpus']} shared cores (client on the same machine)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(report: dict) -> None:
    print(f"in-process ORT: {report['in_process_ort']['single']['runs_per_s']:.0f} single-example runs/s, "
          f"{report['in_process_ort']['batched']['examples_per_s']:.0f} examples/s at batch {BATCH}")
    print(f"{'mode':<12}{'protocol':<16}{'conc':>5}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'srv cpu%':>9}{'cli cpu%':>9}")
    for mode, data in report["modes"].items():
        for protocol in PROTOCOLS:
            for p in data["single"][protocol]:
                print(f"{mode:<12}{protocol:<16}{p['concurrency']:>5}{p['req_per_s']:>9.0f}{p['p50_ms']:>9.2f}"
                      f"{p['p95_ms']:>9.2f}{p['p99_ms']:>9.2f}{p['server_cpu_pct']:>9.0f}{p['client_cpu_pct']:>9.0f}")
            h = data["half_peak"][protocol]
            print(f"{mode:<12}{protocol:<16}{'½pk':>5}{h['achieved_req_per_s']:>9.0f}{h['p50_ms']:>9.2f}"
                  f"{h['p95_ms']:>9.2f}{h['p99_ms']:>9.2f}{h['server_cpu_pct']:>9.0f}{h['client_cpu_pct']:>9.0f}")
            b = data["batched"][protocol]
            print(f"{mode:<12}{protocol:<16}{'b500':>5}{b['examples_per_s']:>9.0f} ex/s  p99 {b['p99_ms']:.1f} ms")
        print(f"{mode:<12}RSS {data['rss_mb_before']} MB before, {data['rss_mb_after']} MB after")



def pick_model(artifacts: Path, name: str | None) -> ServedModel:
    served = load_served_models(artifacts)
    if name is None:
        return served[0]
    for model in served:
        if model.name == name:
            return model
    raise SystemExit(f"bench: no served model {name!r} in {artifacts}; models: {[m.name for m in served]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.tools.bench", description=__doc__)
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--model", default=None, help="served model to load (default: the manifest's first)")
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench"))
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each measurement")
    args = parser.parse_args(argv)

    model = pick_model(args.artifacts, args.model)
    spec: ModelSpec = model.spec
    inputs = example_inputs(spec, BATCH)
    report: dict = {"model": model.name, "spec": spec.to_json(), "batch_examples": BATCH,
                    "seconds_per_point": args.seconds,
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]},
                    "in_process_ort": in_process_ceiling(model.source, inputs, args.seconds), "modes": {}}
    for mode, flags in (("batching", []), ("no-batching", ["--no-batching"])):
        with ServerProcess(args.artifacts, extra_args=flags) as server:
            report["modes"][mode] = {"flags": flags, **asyncio.run(bench_server(server, model.name, inputs,
                                                                                args.seconds))}
        print(f"{mode}: done", flush=True)
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "serve.json", report)
    chart(report, args.out / "serve.png")
    print_table(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
