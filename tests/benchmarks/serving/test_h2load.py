"""benchmarks/serving/h2load.py on recorded h2load output (nghttp2 1.52.0, Debian bookworm) and a recorded /metrics
page: the summary and per-request log parse, percentiles come from the log, and errors include gRPC failures
that h2load sees as HTTP 200. The body check runs one real gRPC call; no load is generated here."""
import grpc
import numpy as np
import pytest

from benchmarks.serving import h2load
from benchmarks.serving.clients import V2Grpc, example_inputs
from tests.serving.conftest import MODELS

# h2load -c 2 -m 1 -t 2 -D 1 -d body -H 'content-type: application/grpc' -H 'te: trailers' --log-file log
# http://127.0.0.1:<port>/inference.GRPCInferenceService/ModelInfer, against the bench server
SUMMARY = """starting benchmark...
spawning thread #0: 1 total client(s). Timing-based test with 0s of warm-up time and 1s of main duration for measurements.
Application protocol: h2c
Main benchmark duration is over for thread #0. Stopping all clients.

finished in 1.00s, 2174.00 req/s, 376.21KB/s
requests: 2174 total, 2176 started, 2174 done, 2174 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 2174 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 376.21KB (385239) total, 6.52KB (6672) headers (space savings 96.21%), 250.52KB (256532) data
                     min         max         mean         sd        +/- sd
time for request:      432us      8.47ms       907us       375us    97.33%
"""
# first lines of that run's --log-file, plus a failed stream (status -1) as h2load writes one
LOG = """1795924744272423\t200\t6182
1795924744278681\t200\t2042
1795924744272775\t200\t7941
1795924745270017\t200\t1226
1795924745270610\t-1\t1165
"""
METRICS = """# HELP rosetta_requests_total Requests by model, protocol and status (HTTP code or gRPC code name)
# TYPE rosetta_requests_total counter
rosetta_requests_total{model="",protocol="v2-rest",status="200"} 1.0
rosetta_requests_total{model="mnist-mlp-torch",protocol="v2-grpc",status="OK"} 2176.0
rosetta_requests_total{model="mnist-mlp-torch",protocol="v2-grpc",status="NOT_FOUND"} 3.0
rosetta_requests_total{model="mnist-mlp-torch",protocol="v2-rest",status="400"} 7.0
rosetta_requests_total{model="other",protocol="v2-grpc",status="INTERNAL"} 5.0
"""


def test_summary_counts_parse_and_garbage_is_refused():
    counts = h2load.parse_summary(SUMMARY)
    assert counts["total"] == 2174 and counts["started"] == 2176 and counts["2xx"] == 2174
    assert counts["failed"] == counts["errored"] == counts["timeout"] == counts["5xx"] == 0
    with pytest.raises(ValueError, match="no h2load summary"):
        h2load.parse_summary("h2load: connect failed\n")


def test_percentiles_and_rate_come_from_the_log_and_skip_failed_streams():
    starts, statuses, micros = h2load.parse_log(LOG)
    assert list(statuses) == [200, 200, 200, 200, -1]
    point = h2load.log_point(starts, statuses, micros)
    assert point["requests"] == 4
    ms = np.array([6182, 2042, 7941, 1226]) / 1000
    assert point["p50_ms"] == round(float(np.percentile(ms, 50)), 3)
    assert point["p99_ms"] == round(float(np.percentile(ms, 99)), 3) and point["p99_ms"] > point["p50_ms"]
    wall = (1795924745270610 + 1165 - 1795924744272423) / 1e6  # first start to last end
    assert point["req_per_s"] == round(4 / wall, 1)
    assert h2load.log_point(*h2load.parse_log(""))["requests"] == 0


def test_grpc_statuses_are_read_per_model_and_protocol_and_differenced():
    before = h2load.grpc_status_counts(METRICS, "mnist-mlp-torch")
    assert before == {"OK": 2176.0, "NOT_FOUND": 3.0}
    after = {"OK": 4000.0, "NOT_FOUND": 5.0, "CANCELLED": 1.0}
    assert h2load.status_delta(before, after) == {"OK": 1824, "NOT_FOUND": 2, "CANCELLED": 1}


def test_errors_count_grpc_failures_behind_http_200():
    summary = h2load.parse_summary(SUMMARY)
    clean = h2load.combine(summary, {"requests": 2174}, {"OK": 2176}, 2)
    assert clean["errors"] == 0 and clean["client"] == "h2load"
    failing = h2load.combine(summary, {"requests": 2174}, {"OK": 2000, "NOT_FOUND": 176}, 2)
    assert failing["errors"] == 176  # every HTTP status was 2xx; the server's counter tells
    # h2load resets at most one in-flight stream per connection when its duration ends: not an error ...
    tail = h2load.combine(summary, {"requests": 2174}, {"OK": 2174, "CANCELLED": 2}, 2)
    assert tail["errors"] == 0 and tail["cancelled_at_end"] == 2
    # ... but more cancellations than connections are
    assert h2load.combine(summary, {"requests": 2174}, {"OK": 2174, "CANCELLED": 5}, 2)["errors"] == 3
    http = h2load.combine({**summary, "5xx": 4, "failed": 1}, {"requests": 2170}, {"OK": 2170}, 2)
    assert http["errors"] == http["http_errors"] == 5


def test_grpc_frame_round_trips_and_a_bad_frame_is_refused():
    assert h2load.grpc_frame(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert h2load.grpc_unframe(h2load.grpc_frame(b"abc")) == b"abc"
    with pytest.raises(ValueError, match="length-prefixed"):
        h2load.grpc_unframe(b"\x00\x00\x00\x00\x09abc")


def test_the_exact_body_is_checked_by_a_real_grpc_call(server, specs, tiny_artifacts):
    from rosetta.core import manifest
    from rosetta.serving.runtime.session import create_session

    model = MODELS[0]
    served = next(m for m in manifest.served(tiny_artifacts, "onnx").versions if m.name == model)
    inputs = example_inputs(specs[model], 2)
    names = specs[model].output_names
    expected = dict(zip(names, create_session(served.source.read_bytes()).run(names, inputs)))
    body = h2load.grpc_frame(V2Grpc.encode(model, inputs).SerializeToString())
    h2load.check_grpc_body(server.grpc_target, body, expected)
    with pytest.raises(AssertionError, match="differs from the in-process run"):
        h2load.check_grpc_body(server.grpc_target, body, {name: x + 1 for name, x in expected.items()})
    unknown = h2load.grpc_frame(V2Grpc.encode("no-such-model", inputs).SerializeToString())
    with pytest.raises(grpc.RpcError) as failed:
        h2load.check_grpc_body(server.grpc_target, unknown, expected)
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
