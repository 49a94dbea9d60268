"""Served answers equal in-process ONNX Runtime, per model, protocol and request size: the two test models
(single- and multi-IO) always, and every onnx model of the real pipeline's manifest (slow)."""
import asyncio

import numpy as np
import onnxruntime as ort
import pytest

from benchmarks.serving.clients import RestClient, TfRest, V2Grpc, V2Rest, example_inputs
from rosetta.core import manifest
from rosetta.core.spec import ModelSpec
from tests.serving.conftest import MODELS

PROTOCOLS = ["v2-rest", "v2-grpc", "tfserving-rest"]
BATCH = 250
SINGLES = 20


def _chunks(x: dict, size: int) -> list[dict]:
    rows = len(next(iter(x.values())))
    return [{n: a[i:i + size] for n, a in x.items()} for i in range(0, rows, size)]


async def _served(server, protocol: str, spec: ModelSpec, x: dict) -> tuple[dict, dict]:
    """(answers of the batched requests covering every row, answers of SINGLES one-row requests), concatenated."""
    chunks, singles = _chunks(x, BATCH), _chunks({n: a[:SINGLES] for n, a in x.items()}, 1)
    if protocol == "v2-grpc":
        client = V2Grpc(server.grpc_target)

        async def call(part):
            return V2Grpc.decode(await client.infer(V2Grpc.encode(spec.name, part)))
    else:
        codec = V2Rest if protocol == "v2-rest" else TfRest
        client = RestClient(server.http_url, connections=8)

        async def call(part):
            answer = await client.post(codec.path(spec.name), codec.encode(part))
            assert answer.status == 200, answer.body[:300]
            return V2Rest.decode(answer.body) if codec is V2Rest else TfRest.decode(answer.body, spec)
    try:
        batched = await asyncio.gather(*map(call, chunks))
        single = await asyncio.gather(*map(call, singles))  # concurrent: the batcher merges them
    finally:
        await client.close()
    join = lambda parts: {n: np.concatenate([p[n] for p in parts]) for n in spec.output_names}  # noqa: E731
    return join(batched), join(single)


def _check(served: dict, reference: dict, spec: ModelSpec, tolerance: float) -> None:
    for t in spec.outputs:
        assert served[t.name].dtype == t.dtype and served[t.name].shape == reference[t.name].shape, t.name
        if t.dtype.kind == "f":
            assert np.abs(served[t.name] - reference[t.name]).max() <= tolerance, t.name
        else:
            np.testing.assert_array_equal(served[t.name], reference[t.name], err_msg=t.name)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("model", MODELS)
def test_served_answers_match_in_process_ort(server, tiny_artifacts, specs, protocol, model):
    spec = specs[model]
    x = example_inputs(spec, 1000, seed=11)
    session = ort.InferenceSession(str(tiny_artifacts / model / "onnx" / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    reference = dict(zip(spec.output_names, session.run(spec.output_names, x), strict=True))
    batched, single = asyncio.run(_served(server, protocol, spec, x))
    _check(batched, reference, spec, 1e-6)
    _check(single, {n: a[:SINGLES] for n, a in reference.items()}, spec, 1e-6)


@pytest.fixture(scope="module")
def pipeline_server(artifacts_dir, tmp_path_factory):
    from benchmarks.serving.process import ServerProcess

    with ServerProcess(artifacts_dir, repository=tmp_path_factory.mktemp("repo")) as proc:
        yield proc


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pipeline_models_match_in_process_ort_and_source(pipeline_server, artifacts_dir, protocol):
    """Every onnx model of the real manifest, names and specs read from it, on random valid inputs (the
    exporter's gates already compare each ONNX file with its source model)."""
    # Unversioned requests go to the latest version; versions come in ascending order, so the last one wins.
    latest = {m.name: m for m in manifest.served(artifacts_dir, "onnx").versions}
    for model in latest.values():
        spec = model.spec
        x = example_inputs(spec, 1000, seed=12)
        session = ort.InferenceSession(str(model.source), providers=["CPUExecutionProvider"])
        reference = dict(zip(spec.output_names, session.run(spec.output_names, x), strict=True))
        batched, single = asyncio.run(_served(pipeline_server, protocol, spec, x))
        _check(batched, reference, spec, 1e-6)
        _check(single, {n: a[:SINGLES] for n, a in reference.items()}, spec, 1e-6)
