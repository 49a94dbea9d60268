"""All 10,000 MNIST test images through the live server, per model and protocol, against in-process ONNX
Runtime and against the source framework's probabilities (the export gates)."""
import asyncio
import json

import numpy as np
import onnxruntime as ort
import pytest

from serving.clients import RestClient, TfRest, V2Grpc, V2Rest

pytestmark = pytest.mark.slow

BATCH = 500
SINGLES = 50
PROTOCOLS = ["v2-rest", "v2-grpc", "tfserving-rest"]
LANES = ["keras", "torch", "jax"]


@pytest.fixture(scope="module")
def manifest(artifacts_dir):
    entries = json.loads((artifacts_dir / "manifest.json").read_text())["artifacts"]
    return {e["lane"]: e for e in entries if e["format"] == "onnx"}


@pytest.fixture(scope="module")
def in_process(artifacts_dir, manifest, test_split):
    """Each lane's ONNX file run here with default ORT settings: what the server must reproduce."""
    out = {}
    for lane, entry in manifest.items():
        session = ort.InferenceSession(str(artifacts_dir / entry["path"]), providers=["CPUExecutionProvider"])
        out[lane] = session.run(None, {"images": test_split.images})[0]
    return out


async def _served(server, protocol: str, model: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(answers for the batched requests covering every image, answers for SINGLES one-image requests)."""
    chunks = [images[i:i + BATCH] for i in range(0, len(images), BATCH)]
    singles = [images[i:i + 1] for i in range(SINGLES)]
    if protocol == "v2-grpc":
        client = V2Grpc(server.grpc_target)
        try:
            async def call(x):
                return V2Grpc.decode(await client.infer(V2Grpc.encode(model, x)))
            batched = await asyncio.gather(*map(call, chunks))
            single = await asyncio.gather(*map(call, singles))
        finally:
            await client.close()
    else:
        codec = V2Rest if protocol == "v2-rest" else TfRest
        client = RestClient(server.http_url, connections=8)
        try:
            async def call(x):
                answer = await client.post(codec.path(model), codec.encode(x))
                assert answer.status == 200, answer.body[:300]
                return codec.decode(answer.body)
            batched = await asyncio.gather(*map(call, chunks))
            single = await asyncio.gather(*map(call, singles))
        finally:
            await client.close()
    return np.concatenate(batched), np.concatenate(single)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("lane", LANES)
def test_served_answers_match_in_process_ort_and_source(server, artifacts_dir, in_process, test_split, protocol,
                                                        lane):
    model = f"mnist-{lane}"
    batched, single = asyncio.run(_served(server, protocol, model, test_split.images))
    assert batched.shape == (10_000, 10) and batched.dtype == np.float32
    reference = in_process[lane]
    assert np.abs(batched - reference).max() <= 1e-6
    assert np.abs(single - reference[:SINGLES]).max() <= 1e-6

    source = np.load(artifacts_dir / lane / "source_probabilities.npy")
    assert np.abs(batched - source).max() <= 1e-5
    assert (batched.argmax(1) == source.argmax(1)).all()
