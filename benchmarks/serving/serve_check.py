"""`python -m benchmarks.serving.serve_check --artifacts DIR`: `rosetta serve` on DIR (e.g. the 2 GB models of
`make zoo-2gb`, ONNX with external data): time to ready, the server's RSS, and one answer per served ONNX model.
Writes DIR/serve_check.json."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx
import psutil

from benchmarks.serving.clients import V2Rest, example_inputs
from benchmarks.serving.process import ServerProcess
from rosetta.core.atomic import write_json
from rosetta.core.manifest import served


def serve_check(artifacts: Path) -> dict:
    started = time.monotonic()
    with ServerProcess(artifacts, extra_args=["--workers", "1", "--poll-seconds", "0"], ready_timeout=900,
                       log_path=artifacts / "serve.log") as server:
        ready_s = time.monotonic() - started
        answers = {}
        with httpx.Client(base_url=server.http_url, timeout=300) as http:
            for m in served(artifacts, "onnx").versions:
                reply = http.post(V2Rest.path(m.name), content=V2Rest.encode(example_inputs(m.spec, rows=2)))
                answers[m.name] = {"status": reply.status_code, "files": [f["path"] for f in m.entry.files or []],
                                   "bytes": m.entry.bytes}
        root = psutil.Process(server.pid)
        rss = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        ready = httpx.get(server.http_url + "/v2/health/ready").json()
    return {"ready_seconds": round(ready_s, 1), "server_rss_bytes": rss, "answers": answers, "readiness": ready}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving.serve_check", description=__doc__)
    parser.add_argument("--artifacts", type=Path, required=True)
    args = parser.parse_args(argv)
    result = serve_check(args.artifacts)
    write_json(args.artifacts / "serve_check.json", result)
    print(json.dumps(result, indent=1))
    return 0 if result["answers"] and all(a["status"] == 200 for a in result["answers"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
