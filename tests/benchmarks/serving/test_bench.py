"""benchmarks/serving/bench.py's pieces on a short leash: its loops are bounded, wrk's numbers parse, the targets are
judged as stated and the report renders."""
import asyncio
import shutil

import pytest

from benchmarks.serving import bench
from benchmarks.serving.clients import RestClient, V2Grpc, example_inputs
from benchmarks.serving.wrk import wrk_point
from tests.serving.conftest import MODELS


@pytest.mark.parametrize("model", MODELS)
def test_load_loops_measure_every_protocol_and_stop_on_time(server, specs, model):
    async def run():
        rest, rpc = RestClient(server.http_url, connections=4), V2Grpc(server.grpc_target)
        try:
            send = bench.senders(rest, rpc, model, example_inputs(specs[model], 2), specs[model])
            closed = {p: await bench.closed_loop(send[p], 4, 0.3, server.pid) for p in send}
            opened = await bench.open_loop(send["tfserving-rest"], 100, 0.3, server.pid)
        finally:
            await rest.close()
            await rpc.close()
        return closed, opened

    if not hasattr(server, "pid"):
        pytest.skip("needs a local server process (CPU and RSS are read from its pid)")
    closed, opened = asyncio.run(run())
    assert set(closed) == {*bench.PROTOCOLS, "v2-rest-binary"}
    for point in closed.values():
        assert point["requests"] > 0 and point["errors"] == 0 and point["p50_ms"] <= point["p99_ms"]
    assert opened["requests"] == 30 and opened["errors"] == 0
    assert bench.rss_mb(server.pid) > 50  # the whole process tree: supervisor and workers


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench-serve installs it)")
def test_wrk_point_counts_answers_and_errors(server, specs):
    model = MODELS[0]
    path, body = bench.rest_single_bodies(model, example_inputs(specs[model], 1))["v2-rest"]
    good = wrk_point(server.http_url + path, body, 2, 1)
    assert good["requests"] > 0 and good["errors"] == 0 and good["p50_ms"] <= good["p99_ms"]
    bad = wrk_point(server.http_url + path, b'{"inputs": []}', 2, 1)
    assert bad["errors"] == bad["requests"] > 0  # every answer a 400


def _point(c: int, rps: float, p99: float = 10.0) -> dict:
    return {"concurrency": c, "requests": 10, "errors": 0, "req_per_s": rps, "p50_ms": 1.0, "p90_ms": 2.0,
            "p99_ms": p99, "server_cpu_pct": 1.0, "client": "wrk"}


def _report(ceiling: dict) -> dict:
    single = {p: [_point(c, 2500.0, 60.0 if p == "v2-grpc" else 10.0) for c in bench.CONCURRENCY]
              for p in bench.PROTOCOLS}
    single["v2-grpc-python"] = [{**_point(16, 2000.0), "client": "python x2 processes"}]  # the cross-check
    batched = {p: {**_point(4, 300.0), "examples_per_s": 150_000.0} for p in {*bench.BATCHED, *bench.PYTHON_BATCHED}}
    return {"model": "m", "machine": {"cpus": 2, "load_avg_at_start": [1.0], "load_avg_at_end": [1.0]},
            "in_process_ort": ceiling,
            "rosetta": {"processes": 3, "single": single, "batched": batched,
                        "rss": {"seconds": 60, "growth_mb": 2.0, "samples_mb": [[0.0, 90.0], [5.0, 95.0], [60.0, 97.0]],
                                "load": {"errors": 0}}},
            "mlserver": {"version": "1.7.1", "single": {"v2-rest": [_point(c, 600.0) for c in bench.CONCURRENCY]}}}


def test_targets_are_judged_and_the_report_renders(tiny_artifacts, tmp_path):
    assert bench.pick_model(tiny_artifacts, None).name == MODELS[0]
    model = bench.pick_model(tiny_artifacts, MODELS[1])
    with pytest.raises(SystemExit, match="no served model 'nope'"):
        bench.pick_model(tiny_artifacts, "nope")
    ceiling = bench.in_process_ceiling(model.source, example_inputs(model.spec, bench.BATCH), 0.05)
    assert ceiling["batched"]["examples_per_s"] > ceiling["single"]["examples_per_s"] > 0
    report = _report(ceiling)
    report["targets"] = bench.evaluate_targets(report)
    by_name = {t["target"]: t for t in report["targets"]}
    assert by_name["v2 REST JSON c=16 >= 3x MLServer"]["passed"] is True  # 2,500 >= 1,800
    assert by_name["TF Serving REST c=16 >= 3,000 req/s"]["shortfall"] == "17% below"
    assert by_name["v2-grpc p99 at c=64 <= 50 ms"]["shortfall"] == "1.2x over"
    assert by_name["v2 gRPC single c=16 >= 3,000 req/s"]["measured"] == 2500.0  # h2load's point, not the cross-check
    assert by_name["errors = 0"]["passed"] and by_name["RSS flat over 60 s (growth <= 10 MB)"]["passed"]
    report["fraction_of_in_process_ceiling"] = bench.ceiling_fractions(report)
    bench.chart(report, tmp_path / "serve.png")
    assert (tmp_path / "serve.png").stat().st_size > 10_000
    bench.print_table(report)
