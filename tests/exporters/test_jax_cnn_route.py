"""The JAX lane's TF route for convnets: jax2onnx -> onnx2tf SavedModel must compute the Flax source's function.

jax2onnx writes a Flax CNN (NHWC) with explicit NHWC<->NCHW Transposes around Conv/MaxPool, and its Reshapes
(the channel axis added to the image, the flatten before the Dense) with targets computed at run time
(Concat(Gather(Shape(x)))). Given the image Reshape's runtime target, onnx2tf's NHWC rewrite loses the layout
and its SavedModel computes another function: on the MNIST CNN it agreed with ONNX Runtime on 15% of the test
images. `onnx_to_savedmodel` folds such targets into constants first (1.2e-6, 100%); this checks the route
against the source on a small CNN of the same pattern.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax2onnx")
pytest.importorskip("onnx2tf")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import onnxruntime as ort  # noqa: E402
import tensorflow as tf  # noqa: E402

from rosetta.core.spec import ModelSpec, TensorSpec  # noqa: E402
from rosetta.exporters.context import ExportContext  # noqa: E402
from rosetta.exporters.onnx_edges import jax_to_onnx  # noqa: E402
from rosetta.exporters.runtimes import SIGNATURE  # noqa: E402
from rosetta.exporters.tf_edges import onnx_to_savedmodel  # noqa: E402
from rosetta.jax_function import JaxFunction  # noqa: E402
from rosetta.sources import Source  # noqa: E402

SIDE, CLASSES = 16, 5  # 16 -> conv 14 -> pool 7 -> conv 5 -> pool 2: a 2x2xC map, so flatten order matters
ATOL = 1e-5
SPEC = ModelSpec("tiny-cnn-jax", (TensorSpec("pixels", "FP32", (-1, SIDE, SIDE), "NHW"),),
                 (TensorSpec("scores", "FP32", (-1, CLASSES), kind="probabilities"),))


class TinyCNN(nn.Module):
    """The built-in CNN's layer pattern at a fraction of its size."""
    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x[..., None]
        x = nn.relu(nn.Conv(4, (3, 3), padding="VALID")(x))
        x = nn.max_pool(x, window_shape=(2, 2), strides=(2, 2), padding="VALID")
        x = nn.Conv(6, (3, 3), padding="VALID", use_bias=False)(x)
        x = nn.BatchNorm(use_running_average=True)(x)
        x = nn.max_pool(nn.relu(x), window_shape=(2, 2), strides=(2, 2), padding="VALID")
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(16)(x))
        return nn.Dense(CLASSES)(x)


def _source() -> JaxFunction:
    module = TinyCNN()
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    variables = module.init(keys[0], jnp.zeros((1, SIDE, SIDE), jnp.float32))
    # Running statistics away from (0, 1), so a BatchNorm applied on the wrong axis shows in the outputs.
    channels = variables["batch_stats"]["BatchNorm_0"]["mean"].shape
    variables = {"params": variables["params"], "batch_stats": {"BatchNorm_0": {
        "mean": jax.random.normal(keys[1], channels), "var": jax.random.uniform(keys[2], channels, minval=0.5,
                                                                                 maxval=2.0)}}}

    def probabilities(variables, pixels):
        # x4: spread the logits, so a wrong feature order changes the probabilities well beyond ATOL
        return jax.nn.softmax(4.0 * module.apply(variables, pixels), axis=-1)
    return JaxFunction(probabilities, variables)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[JaxFunction, Path, Path]:
    root = tmp_path_factory.mktemp("jax_cnn")
    fn = _source()
    rows = np.random.default_rng(0).random((4, SIDE, SIDE), dtype=np.float32)
    ctx = ExportContext(Source("jax", fn, "tests: TinyCNN"), SPEC, {"pixels": rows}, {"pixels": rows})
    onnx_path, savedmodel = root / "model.onnx", root / "savedmodel"
    jax_to_onnx(root, onnx_path, ctx)
    onnx_to_savedmodel(onnx_path, savedmodel, ctx)
    return fn, onnx_path, savedmodel


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_onnx2tf_savedmodel_matches_the_flax_source(converted, batch: int) -> None:
    fn, onnx_path, savedmodel = converted
    images = np.random.default_rng(batch).random((batch, SIDE, SIDE), dtype=np.float32)
    expected = np.asarray(fn(images))
    assert expected.max(axis=1).mean() > 0.5  # peaked, not near-uniform: a wrong graph cannot hide within ATOL

    onnx_out = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(
        ["scores"], {"pixels": images})[0]
    np.testing.assert_allclose(onnx_out, expected, atol=ATOL, rtol=0)

    serving = tf.saved_model.load(str(savedmodel)).signatures[SIGNATURE]
    (signature_input,) = serving.structured_input_signature[1].values()
    assert signature_input.shape.as_list() == [None, SIDE, SIDE]  # the spec's layout, batch left free
    tf_out = serving(pixels=tf.constant(images))["scores"].numpy()
    np.testing.assert_allclose(tf_out, expected, atol=ATOL, rtol=0)
    assert (tf_out.argmax(axis=1) == expected.argmax(axis=1)).all()
