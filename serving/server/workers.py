"""Several server processes on the same ports, one per core by default.

One Python process serves on one core (the GIL), so on N cores N identical workers each load the models and
serve REST and gRPC on the same ports: SO_REUSEPORT lets the kernel spread incoming connections over them
(gRPC sets it on its listeners by itself). This process only supervises: it starts the workers, forwards
SIGTERM/SIGINT to them, and if one exits on its own (a load error, a crash) stops the others and exits with
its code, so the deployment restarts the whole set. SIGHUP restarts the workers one by one without dropping a
request (new code or a changed environment; models themselves hot-reload without it). Prometheus metrics go through prometheus_client's
multiprocess mode, so /metrics, whichever worker answers it, counts every worker's requests.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import wait

from rosetta.serving.server.config import ServeConfig

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
READY_FILE_ENV = "ROSETTA_WORKER_READY_FILE"  # a worker touches this file once it accepts requests
STOP_GRACE_S = 10  # a worker drains in-flight requests within its 5 s grace period; k8s allows 30 s in all
START_TIMEOUT_S = 300  # a replacement worker loads every model before it is ready; large ones take a while


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket other workers can bind too (uvicorn takes it via serve(sockets=...))."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _worker(serve_one: Callable[[ServeConfig], int], config: ServeConfig, ready_file: str) -> None:
    os.environ[READY_FILE_ENV] = ready_file
    sys.exit(serve_one(config))


def run_workers(config: ServeConfig, serve_one: Callable[[ServeConfig], int]) -> int:
    """`config.workers` processes each running serve_one on the shared ports, until a signal or one exits."""
    metrics_dir = tempfile.mkdtemp(prefix="rosetta-metrics-")
    os.environ[METRICS_DIR_ENV] = metrics_dir  # inherited by the workers, read when they import prometheus_client
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each: no ORT threads forked mid-state
    worker_config = replace(config, workers=1, reuse_port=True)
    spawned = 0

    def spawn() -> multiprocessing.Process:
        nonlocal spawned
        spawned += 1
        ready = os.path.join(metrics_dir, f"ready-{spawned}")
        return context.Process(target=_worker, args=(serve_one, worker_config, ready), name=f"rosetta-worker-{spawned}")

    procs = [spawn() for _ in range(config.workers)]
    stopping_since: float | None = None
    restart_requested = False

    def request_restart(signum: int, _frame: object) -> None:
        nonlocal restart_requested
        restart_requested = True

    def rolling_restart() -> None:
        """One worker at a time: start its replacement, wait until it accepts requests on the shared ports,
        then SIGTERM the old one, which drains (serving/server/drain.py). At every moment some worker accepts,
        so clients see no failed request. A replacement that fails to start leaves the old worker serving."""
        for index, old in enumerate(list(procs)):
            new = spawn()
            ready = os.path.join(metrics_dir, f"ready-{spawned}")
            new.start()
            deadline = time.monotonic() + START_TIMEOUT_S
            while not os.path.exists(ready):
                if stopping_since is not None or not new.is_alive() or time.monotonic() > deadline:
                    print(f"rosetta serve: rolling restart stopped: replacement {new.name} "
                          f"{'exited with ' + str(new.exitcode) if new.exitcode is not None else 'not ready'}; "
                          f"{old.name} keeps serving", file=sys.stderr)
                    if new.is_alive():
                        new.kill()
                    new.join()
                    return
                time.sleep(0.1)
            procs[index] = new
            os.kill(old.pid, signal.SIGTERM)
            old.join(STOP_GRACE_S)
            if old.is_alive():
                old.kill()
                old.join()
            print(f"rosetta serve: {old.name} replaced by {new.name}", file=sys.stderr)

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping_since
        if stopping_since is None:
            stopping_since = time.monotonic()
        for p in procs:
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, request_restart)
    try:
        for p in procs:
            p.start()
        first_exit: int | None = None
        while any(p.is_alive() for p in procs):
            wait([p.sentinel for p in procs if p.is_alive()], timeout=0.2 if restart_requested else 1.0)
            if restart_requested and stopping_since is None:
                restart_requested = False
                rolling_restart()
            for p in procs:
                if p.exitcode is not None and first_exit is None and stopping_since is None:
                    first_exit = p.exitcode if p.exitcode >= 0 else 128 - p.exitcode  # killed: 128 + signal
                    print(f"rosetta serve: worker {p.name} exited with {p.exitcode}; stopping the others",
                          file=sys.stderr)
                    stop(signal.SIGTERM, None)
            if stopping_since is not None:
                # Again each second: a worker still starting up may have missed it (its server installs
                # the handler that drains only once it serves); past the grace period, killed.
                overdue = time.monotonic() - stopping_since > STOP_GRACE_S
                for p in procs:
                    if p.is_alive():
                        os.kill(p.pid, signal.SIGKILL if overdue else signal.SIGTERM)
        for p in procs:
            p.join()
        return first_exit or 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)
