"""serving/server/metrics.py's gRPC interceptor: the status a call is counted under."""
import asyncio
from types import SimpleNamespace

import grpc
import pytest
from prometheus_client import REGISTRY

from rosetta.serving.server.metrics import GrpcMetricsInterceptor, ModelLabels


def _count(status: str) -> float:
    labels = {"model": "m", "protocol": "v2-grpc", "status": status}
    return REGISTRY.get_sample_value("rosetta_requests_total", labels) or 0.0


@pytest.mark.parametrize(("raised", "status"), [(asyncio.CancelledError, "CANCELLED"), (RuntimeError, "UNKNOWN")])
def test_a_call_the_client_abandons_counts_cancelled_and_a_crash_unknown(raised, status):
    """h2load resets its in-flight streams when its time is up; the benchmark must tell those from failures."""
    async def method(request, context):
        raise raised("gone")

    async def continuation(details):
        return grpc.unary_unary_rpc_method_handler(method)

    async def call():
        handler = await GrpcMetricsInterceptor(ModelLabels(["m"])).intercept_service(continuation, None)
        await handler.unary_unary(SimpleNamespace(model_name="m"), SimpleNamespace(code=lambda: None))

    before = {s: _count(s) for s in ("CANCELLED", "UNKNOWN")}
    with pytest.raises(raised):
        asyncio.run(call())
    after = {s: _count(s) for s in ("CANCELLED", "UNKNOWN")}
    assert {s: after[s] - before[s] for s in after} == {s: float(s == status) for s in after}
