"""`h2load` (nghttp2's C HTTP/2 load generator, from Debian) as the benchmark's gRPC client: two Python grpc
processes spent about half of the 2 shared cores, starving the server they measured.

gRPC is HTTP/2: a unary call is a POST to /<service>/<method> with content-type application/grpc and te: trailers,
whose body is the serialized message behind a 5-byte frame header. h2load re-sends one such body and counts
HTTP statuses, but a gRPC failure is a 200 with a non-OK grpc-status trailer, so errors are counted from the
server's own per-status counter (rosetta_requests{protocol="v2-grpc",status=...}) read before and after the run;
and latency percentiles come from h2load's per-request log (--log-file), as its summary has no p99.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import grpc
import numpy as np
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.serving.clients import Tensors, V2Grpc
from benchmarks.serving.process import debian_tool

MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
GRPC_HEADERS = {"content-type": "application/grpc", "te": "trailers"}


def grpc_frame(message: bytes) -> bytes:
    """One gRPC length-prefixed message: uncompressed flag, 4-byte big-endian length, the message."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def grpc_unframe(body: bytes) -> bytes:
    if len(body) < 5 or body[0] != 0 or int.from_bytes(body[1:5], "big") != len(body) - 5:
        raise ValueError("not one uncompressed gRPC length-prefixed message")
    return body[5:]


_REQUESTS = re.compile(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                       r"(\d+) errored, (\d+) timeout", re.M)
_STATUS = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.M)


def parse_summary(stdout: str) -> dict[str, int]:
    """h2load's request and status-code counts from its text summary."""
    req, status = _REQUESTS.search(stdout), _STATUS.search(stdout)
    if req is None or status is None:
        raise ValueError(f"no h2load summary in its output: {stdout[-500:]!r}")
    names = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    return {**dict(zip(names, map(int, req.groups()))),
            **dict(zip(("2xx", "3xx", "4xx", "5xx"), map(int, status.groups())))}


def parse_log(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """h2load --log-file rows: (start µs since epoch, HTTP status (-1: failed stream), µs to end of response)."""
    rows = np.array([line.split("\t")[:3] for line in text.splitlines() if line.strip()], dtype=np.int64)
    if rows.size == 0:
        return (np.empty(0, np.int64),) * 3
    return rows[:, 0], rows[:, 1], rows[:, 2]


def log_point(starts: np.ndarray, statuses: np.ndarray, micros: np.ndarray) -> dict:
    """Throughput and latency percentiles of the HTTP-200 answers in a per-request log. Wall time runs from
    the first request's start to the last answer's end (h2load's own figure includes connection setup)."""
    ok = statuses == 200
    if not ok.any():
        return {"requests": 0, "req_per_s": 0.0}
    wall = (np.max(starts + micros) - np.min(starts)) / 1e6
    ms = micros[ok] / 1000
    return {"requests": int(ok.sum()), "req_per_s": round(float(ok.sum() / wall), 1),
            **{f"p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 90, 99)}}


def grpc_status_counts(metrics_text: str, model: str, protocol: str = "v2-grpc") -> dict[str, float]:
    """The server's rosetta_requests counter for one model and protocol, by status (gRPC code name)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "rosetta_requests":
            continue
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "rosetta_requests_total" and labels.get("model") == model \
                    and labels.get("protocol") == protocol:
                out[labels["status"]] = out.get(labels["status"], 0.0) + sample.value
    return out


def status_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, int]:
    return {s: int(after[s] - before.get(s, 0.0)) for s in after if after[s] - before.get(s, 0.0) > 0}


def check_grpc_body(grpc_target: str, body: bytes, expected: Mapping[str, np.ndarray],
                    path: str = MODEL_INFER) -> None:
    """Send the exact framed `body` h2load will send once through a real gRPC client and require an OK answer
    whose outputs match `expected` (the model run in process): h2load itself never looks at the answers."""
    with grpc.insecure_channel(grpc_target, options=[("grpc.max_receive_message_length", 64 << 20),
                                                     ("grpc.max_send_message_length", 64 << 20)]) as channel:
        call = channel.unary_unary(path, request_serializer=lambda raw: raw,
                                   response_deserializer=pb.ModelInferResponse.FromString)
        outputs: Tensors = V2Grpc.decode(call(grpc_unframe(body), timeout=60))
    if set(outputs) != set(expected):
        raise RuntimeError(f"gRPC answer has outputs {sorted(outputs)}, the model {sorted(expected)}")
    for name, want in expected.items():
        np.testing.assert_allclose(outputs[name], want, rtol=1e-5, atol=1e-6,
                                   err_msg=f"gRPC answer's {name!r} differs from the in-process run")


def scrape(metrics_url: str) -> str:
    with urllib.request.urlopen(metrics_url, timeout=10) as resp:
        return resp.read().decode()


def combine(summary: Mapping[str, int], from_log: dict, grpc_statuses: Mapping[str, int], connections: int) -> dict:
    """One benchmark point: HTTP-level failures from h2load plus non-OK gRPC answers from the server's counter.
    A mismatch between the server's OK count and h2load's 200s is reported, not hidden."""
    http_errors = summary["failed"] + summary["errored"] + summary["timeout"] + summary["3xx"] + summary["4xx"] \
        + summary["5xx"]
    # When the duration ends h2load resets the streams still in flight, at most one per connection: the server
    # counts those CANCELLED. More cancellations than connections are errors.
    cancelled = grpc_statuses.get("CANCELLED", 0)
    tail = min(cancelled, connections)
    non_ok = sum(n for s, n in grpc_statuses.items() if s not in ("OK", "CANCELLED")) + cancelled - tail
    return {"concurrency": connections, **from_log, "errors": http_errors + non_ok,
            "http_errors": http_errors, "grpc_statuses": dict(grpc_statuses), "cancelled_at_end": tail,
            "h2load_2xx": summary["2xx"], "client": "h2load"}


def h2load_grpc_point(grpc_target: str, metrics_url: str, body: bytes, connections: int, seconds: float,
                      model: str, path: str = MODEL_INFER) -> dict:
    """POST the framed gRPC `body` over h2c from `connections` connections, one stream each (a closed loop,
    as wrk's), for `seconds`; `metrics_url` is the server's Prometheus endpoint: req/s, p50/p90/p99, errors
    (HTTP and gRPC)."""
    with tempfile.TemporaryDirectory(prefix="rosetta-h2load-") as tmp:
        body_file, log_file = Path(tmp) / "body", Path(tmp) / "requests.log"
        body_file.write_bytes(body)
        headers = [arg for k, v in GRPC_HEADERS.items() for arg in ("-H", f"{k}: {v}")]
        cmd = [debian_tool("h2load", "nghttp2-client"), "-c", str(connections), "-m", "1",
               "-t", str(min(2, connections)), "-D", str(max(1, round(seconds))), "-d", str(body_file), *headers,
               "--log-file", str(log_file), f"http://{grpc_target}{path}"]
        before = grpc_status_counts(scrape(metrics_url), model)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
        after = grpc_status_counts(scrape(metrics_url), model)
        if out.returncode != 0:
            raise RuntimeError(f"h2load failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
        summary = parse_summary(out.stdout)
        from_log = log_point(*parse_log(log_file.read_text()))
    point = combine(summary, from_log, status_delta(before, after), connections)
    if point["requests"] != summary["2xx"]:
        raise RuntimeError(f"h2load log has {point['requests']} answers with status 200, its summary {summary}")
    return point
