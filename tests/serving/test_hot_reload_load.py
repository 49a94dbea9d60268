"""THE swap test: a real server process under continuous loopback load while version 2 of a model is published
and then version 1 retired. No request may fail, answers must switch to version 2, readiness must never drop,
and the server's RSS must come back to its one-version level once version 1 is gone.

Bounded: 4 client threads sending one request at a time each, ~10 s in all, loopback only.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import numpy as np
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from benchmarks.serving.clients import JSON, TfRest, V2Grpc, V2Rest
from benchmarks.serving.process import ServerProcess
from tests.serving.versioned_models import WIDTH, VersionedArtifacts, offset_model, offset_spec

MODEL = "swap"
POLL_S = 0.5
# 3M rows x 4 float32 = 48 MB of weights per version: large enough that a version's memory shows in the RSS
# above the noise of a Python server (allocator caches, request buffers: a few MB).
TABLE_ROWS = 3_000_000
MODEL_MB = TABLE_ROWS * WIDTH * 4 / 2**20
X = np.arange(WIDTH, dtype=np.float32).reshape(1, WIDTH)
T0 = time.monotonic()


@dataclass
class Client:
    """One thread sending requests back to back; every answer is recorded with the version that gave it."""

    name: str
    send: Callable[[], int]  # -> the version that answered; raises on any failure
    records: list[tuple[float, float, int]] = field(default_factory=list)  # (sent, latency s, version)
    failures: list[str] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                version = self.send()
            except Exception as exc:  # noqa: BLE001 - any failure is what the test counts
                self.failures.append(f"{time.monotonic() - T0:.2f}s {type(exc).__name__}: {exc}"[:300])
                continue
            self.records.append((sent, time.monotonic() - sent, version))



def _version(y: np.ndarray) -> int:
    offset = float(np.mean(np.asarray(y, np.float32) - X))
    assert abs(offset - round(offset)) < 1e-4, offset
    return round(offset)


def _rss_mb(pid: int) -> float:
    """The server's RSS: the process and its descendants (worker processes, if it runs several)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def _settled_rss(pid: int, seconds: float = 1.0) -> float:
    """Median of samples over `seconds` (the load keeps allocating and freeing request buffers)."""
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(_rss_mb(pid))
        time.sleep(0.05)
    return float(np.median(samples))


def _wait(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_publish_v2_then_retire_v1_under_load_fails_no_request(tmp_path):
    store = VersionedArtifacts(tmp_path / "artifacts")
    store.publish(MODEL, 1, offset=1.0, table_rows=TABLE_ROWS)
    offset_model(2.0, TABLE_ROWS)  # built now: building it later would stall this process's client threads
    with ServerProcess(store.root, repository=tmp_path / "repo", log_path=tmp_path / "server.log",
                       extra_args=["--poll-seconds", str(POLL_S), "--log-level", "INFO"]) as server:
        body_v2, body_tf = V2Rest.encode({"x": X}), TfRest.encode({"x": X})
        spec = offset_spec(MODEL)
        local = threading.local()

        def http() -> httpx.Client:
            if not hasattr(local, "http"):
                local.http = httpx.Client(base_url=server.http_url, headers=JSON, timeout=10)
            return local.http

        def v2_latest() -> int:
            r = http().post(V2Rest.path(MODEL), content=body_v2)
            r.raise_for_status()
            return _version(V2Rest.decode(r.content)["y"])

        def tf_stable() -> int:
            r = http().post(f"/v1/models/{MODEL}/labels/stable:predict", content=body_tf)
            r.raise_for_status()
            return _version(TfRest.decode(r.content, spec)["y"])

        channel = grpc.insecure_channel(server.grpc_target)
        stub = GRPCInferenceServiceStub(channel)

        def grpc_latest() -> int:
            return _version(V2Grpc.decode(stub.ModelInfer(V2Grpc.encode(MODEL, {"x": X}), timeout=10))["y"])

        def grpc_stable() -> int:
            return _version(V2Grpc.decode(stub.ModelInfer(V2Grpc.encode(MODEL, {"x": X}, version="stable"),
                                                          timeout=10))["y"])

        clients = [Client("v2-rest latest", v2_latest), Client("tf-rest label stable", tf_stable),
                   Client("grpc latest", grpc_latest), Client("grpc label stable", grpc_stable)]
        not_ready: list[str] = []

        def readiness(stop: threading.Event) -> None:
            with httpx.Client(base_url=server.http_url, timeout=10) as probe:
                while not stop.is_set():
                    try:
                        r = probe.get("/v2/health/ready")
                        if r.status_code != 200:
                            not_ready.append(str(r.status_code))
                    except httpx.HTTPError as exc:
                        not_ready.append(repr(exc))
                    time.sleep(0.05)

        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in clients]
        threads.append(threading.Thread(target=readiness, args=(stop,), daemon=True))
        for t in threads:
            t.start()
        try:
            time.sleep(1.5)
            rss_v1 = _settled_rss(server.pid)

            published = time.monotonic()
            store.publish(MODEL, 2, offset=2.0, table_rows=TABLE_ROWS)  # files, then the manifest (canary -> 2)
            _wait(lambda: all(c.records and c.records[-1][2] == 2 for c in clients if "latest" in c.name), 20,
                  "unversioned answers from v2")
            v2_visible = time.monotonic() - published
            time.sleep(0.5)
            rss_both = _settled_rss(server.pid)

            retired_at = time.monotonic()
            store.release(MODEL, stable=2, canary=None, retire=(1,))
            # Out of the table of the process this thread reaches, and every client answered from v2 since
            # (each connection may reach another server process; each polls on its own).
            _wait(lambda: [s["version"] for s in http().get(f"/v1/models/{MODEL}").json()["model_version_status"]]
                  == ["2"], 20, "v1 out of the table")
            _wait(lambda: all(c.records[-1][0] > retired_at and c.records[-1][2] == 2 for c in clients), 20,
                  "every client answered from v2 after the release")
            v1_gone = time.monotonic()
            _wait(lambda: not (tmp_path / "repo" / MODEL / "1").exists(), 20, "v1 closed and its copy removed")
            time.sleep(1.0)
            rss_after = _settled_rss(server.pid)
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(15)
            channel.close()

    log = server.log_tail(400)
    records = [r for c in clients for r in c.records]
    latencies = np.array([r[1] for r in records]) * 1000
    print(f"\nswap test: {len(records)} requests over {len(clients)} clients, "
          f"{sum(len(c.failures) for c in clients)} failed, readiness probes failed: {len(not_ready)}")
    for c in clients:
        lat = np.array([r[1] for r in c.records]) * 1000
        by_version = {v: sum(1 for r in c.records if r[2] == v) for v in (1, 2)}
        print(f"  {c.name:<22} {len(c.records):>6} ok  v1 {by_version[1]:>6}  v2 {by_version[2]:>6}  "
              f"p50 {np.percentile(lat, 50):.2f} ms  p99 {np.percentile(lat, 99):.2f} ms")
    print(f"  all: p50 {np.percentile(latencies, 50):.2f} ms  p99 {np.percentile(latencies, 99):.2f} ms  "
          f"max {latencies.max():.1f} ms")
    slowest = sorted(records, key=lambda r: -r[1])[:5]
    print("  slowest requests, sent at (s after publishing v2) / latency: " + ", ".join(
        f"{sent - published:+.2f}/{latency * 1000:.0f} ms" for sent, latency, _ in slowest)
        + f"; v1 retired at {retired_at - published:+.2f}")
    print(f"  v2 answered {v2_visible:.2f} s after publishing (poll {POLL_S} s); v1 out of the table "
          f"{v1_gone - retired_at:.2f} s after the release")
    print(f"  RSS: v1 only {rss_v1:.0f} MB, v1+v2 {rss_both:.0f} MB, after retiring v1 {rss_after:.0f} MB "
          f"(one version holds {MODEL_MB:.0f} MB of weights)")

    assert not [f for c in clients for f in c.failures], [f for c in clients for f in c.failures][:5]
    assert not not_ready, not_ready[:5]
    for c in clients:
        versions = [v for _, _, v in c.records]
        assert versions[0] == 1 and versions[-1] == 2, c.name  # answers switched to v2...
        assert versions == sorted(versions), f"{c.name}: answers went back to v1"  # ...once and for good
        assert all(v == 1 for sent, _, v in c.records if sent < published), c.name
        assert all(v == 2 for sent, _, v in c.records if sent > v1_gone), c.name
        assert len(c.records) > 50, f"{c.name}: too few requests to mean anything"
    assert "loaded swap v2" in log and "retired swap v1" in log
    # The measurement is sensitive (a second version shows), and retiring gives that memory back: what is
    # left above the one-version level must be well under one version's weights. A quarter of them (12 MB)
    # leaves room for allocator caches and the extra request buffers of a run that has served more requests.
    assert rss_both - rss_v1 > 0.5 * MODEL_MB, (rss_v1, rss_both)
    assert rss_after < rss_v1 + 0.25 * MODEL_MB, (rss_v1, rss_both, rss_after)
