"""`wrk` (the C HTTP load generator, from Debian) as the benchmark's REST client: a Python client spends more
CPU per request than the server it measures, on the same cores. One closed-loop point per call."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from benchmarks.serving.process import debian_tool

SCRIPT = Path(__file__).with_name("wrk_post.lua")
MARK = "WRK_JSON "


def wrk_point(url: str, body: bytes, connections: int, seconds: float,
              content_type: str = "application/json") -> dict:
    """POST `body` to `url` from `connections` keep-alive connections for `seconds`: req/s, latency, errors."""
    with tempfile.NamedTemporaryFile(suffix=".body") as f:
        f.write(body)
        f.flush()
        env = {**os.environ, "WRK_BODY_FILE": f.name, "WRK_CONTENT_TYPE": content_type}
        threads = min(2, connections)
        cmd = [debian_tool("wrk", "wrk"), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(SCRIPT), url]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith(MARK)), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    raw = json.loads(line[len(MARK):])
    wall = raw["duration_us"] / 1e6
    errors = raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["non_2xx"] + raw["timeouts"]
    return {"concurrency": connections, "requests": raw["requests"], "errors": errors,
            "req_per_s": round(raw["requests"] / wall, 1), "p50_ms": raw["p50_us"] / 1000,
            "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000, "client": "wrk"}
