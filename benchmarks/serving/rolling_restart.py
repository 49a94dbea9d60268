"""`python -m benchmarks.serving.rolling_restart`: failed requests across a rolling restart, under wrk load.

The server runs with N workers on shared ports; while wrk keeps C keep-alive connections busy, SIGHUP makes
the supervisor replace every worker one at a time (each old one drains on SIGTERM: serving/server/drain.py).
Every request wrk sent must get a 2xx: connect/read/write errors, timeouts and non-2xx are counted as failed.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.serving.clients import V2Rest, example_inputs
from benchmarks.serving.process import ServerProcess
from benchmarks.serving.wrk import wrk_point
from rosetta.core.manifest import served


def rolling_restart(artifacts: Path, model: str | None = None, workers: int = 2, connections: int = 16,
                    seconds: float = 20.0, restarts: int = 1, log_path: Path | None = None) -> dict:
    """Run wrk for `seconds` and SIGHUP the server `restarts` times during it; wrk's counts and the restarts."""
    served_set = served(artifacts, "onnx")
    entry = next(m for m in served_set.versions if model in (None, m.name))
    body = V2Rest.encode(example_inputs(entry.spec, rows=1))
    log_path = log_path or Path(tempfile.mkdtemp(prefix="rolling-")) / "server.log"
    with ServerProcess(artifacts, extra_args=["--workers", str(workers), "--poll-seconds", "0"],
                       log_path=log_path, ready_timeout=180) as server:
        result: dict = {}
        load = threading.Thread(target=lambda: result.update(
            wrk_point(server.http_url + V2Rest.path(entry.name), body, connections, seconds)), daemon=True)
        load.start()
        time.sleep(min(2.0, seconds / 4))
        started = time.monotonic()
        for _ in range(restarts):
            before = log_path.read_text(errors="replace").count("replaced by")
            server.proc.send_signal(signal.SIGHUP)
            while log_path.read_text(errors="replace").count("replaced by") < before + workers:
                if time.monotonic() - started > seconds:
                    raise RuntimeError(f"rolling restart not done within {seconds} s:\n{server.log_tail()}")
                time.sleep(0.1)
        restart_seconds = time.monotonic() - started
        load.join()
        alive = server.alive() and server.is_ready()
    replaced = log_path.read_text(errors="replace").count("replaced by")
    return {**result, "model": entry.name, "workers": workers, "restarts": restarts, "workers_replaced": replaced,
            "restart_seconds": round(restart_seconds, 1), "alive_after": alive}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving.rolling_restart", description=__doc__)
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--restarts", type=int, default=2)
    args = parser.parse_args(argv)
    out = rolling_restart(args.artifacts, args.model, args.workers, args.connections, args.seconds, args.restarts)
    print(json.dumps(out, indent=1))
    return 0 if out["errors"] == 0 and out["alive_after"] else 1


if __name__ == "__main__":
    sys.exit(main())
