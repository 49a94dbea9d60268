"""serving/tools/bench.py's pieces on a short leash: its loops are bounded and its report renders."""
import asyncio

import pytest

from serving.tools import bench
from serving.tools.clients import RestClient, V2Grpc, example_inputs
from tests.serving.conftest import MODELS


@pytest.mark.parametrize("model", MODELS)
def test_load_loops_measure_every_protocol_and_stop_on_time(server, specs, model):
    async def run():
        rest, rpc = RestClient(server.http_url, connections=4), V2Grpc(server.grpc_target)
        try:
            send = bench.senders(rest, rpc, model, example_inputs(specs[model], 1))
            closed = {p: await bench.closed_loop(send[p], 4, 0.3, server.pid) for p in bench.PROTOCOLS}
            opened = await bench.open_loop(send["tfserving-rest"], 100, 0.3, server.pid)
        finally:
            await rest.close()
            await rpc.close()
        return closed, opened

    if not hasattr(server, "pid"):
        pytest.skip("needs a local server process (CPU and RSS are read from its pid)")
    closed, opened = asyncio.run(run())
    for point in closed.values():
        assert point["requests"] > 0 and point["errors"] == 0 and point["p50_ms"] <= point["p99_ms"]
    assert opened["requests"] == 30 and opened["errors"] == 0


def test_model_choice_ceiling_and_chart(tiny_artifacts, tmp_path):
    assert bench.pick_model(tiny_artifacts, None).name == MODELS[0]
    model = bench.pick_model(tiny_artifacts, MODELS[1])
    with pytest.raises(SystemExit, match="no served model 'nope'"):
        bench.pick_model(tiny_artifacts, "nope")
    ceiling = bench.in_process_ceiling(model.source, example_inputs(model.spec, bench.BATCH), 0.05)
    assert ceiling["batched"]["examples_per_s"] > ceiling["single"]["examples_per_s"] > 0
    point = {"concurrency": 1, "req_per_s": 1.0, "p50_ms": 1.0, "p95_ms": 1.0, "p99_ms": 1.0,
             "server_cpu_pct": 1.0, "client_cpu_pct": 1.0}
    mode = {"single": {p: [{**point, "concurrency": c} for c in bench.CONCURRENCY] for p in bench.PROTOCOLS},
            "batched": {p: {**point, "examples_per_s": 500.0} for p in bench.PROTOCOLS},
            "half_peak": {p: {**point, "achieved_req_per_s": 1.0} for p in bench.PROTOCOLS},
            "rss_mb_before": 1.0, "rss_mb_after": 1.0}
    report = {"machine": {"cpus": 2}, "in_process_ort": ceiling, "modes": {"batching": mode, "no-batching": mode}}
    bench.chart(report, tmp_path / "serve.png")
    assert (tmp_path / "serve.png").stat().st_size > 10_000
    bench.print_table(report)
