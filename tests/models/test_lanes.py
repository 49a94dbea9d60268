"""Each lane builds every built-in architecture, learns, round-trips its checkpoint and its weights.

Keras runs one backend per process (KERAS_BACKEND, read once at import): this process tests the lanes of its
backend, plus the non-Keras lanes in the suite's own (TensorFlow) process; the lanes of the other Keras backends
run this file in a child process each (test_keras_backend_lanes_in_their_own_process).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from rosetta import contract
from rosetta.keras_backends import child_env
from rosetta.models import keras_backend, lane
from rosetta.models.architectures import ARCHITECTURE_FILE, ARCHITECTURES, CNN, MLP, random_weights, weight_shapes
from rosetta.models.common import TrainConfig, accuracy

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
SUITE = BACKEND == "tensorflow"  # the suite's own process (tests/conftest.py), not a child started below
LANES = [name for name in contract.LANES if keras_backend(name) == BACKEND or (SUITE and keras_backend(name) is None)]
OTHER_BACKENDS = [b for b in ("jax", "torch") if SUITE]

# Small quick runs (the real training is `rosetta train`): enough steps to prove each lane learns.
# Plain cosine Adam without smoothing (the loss bar below is a plain cross-entropy's), as measured.
_PLAIN = {"warmup": 0.0, "label_smoothing": 0.0, "learning_rate": 1e-3}
QUICK = {MLP: (10_000, TrainConfig.for_model(MLP, epochs=1, batch_size=16, **_PLAIN), 0.88),  # measured 0.893-0.895
         CNN: (4_000, TrainConfig.for_model(CNN, epochs=1, batch_size=32, **_PLAIN), 0.85)}


def _assert_same_weights(a, b):
    assert len(a) == len(b)
    for layer_a, layer_b in zip(a, b):
        assert len(layer_a) == len(layer_b)
        for x, y in zip(layer_a, layer_b):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("model", ARCHITECTURES)
@pytest.mark.parametrize("name", LANES)
def test_quick_training_learns_and_checkpoint_round_trips(name, model, train_split, test_split, tmp_path):
    module = lane(name)
    n, config, bar = QUICK[model]
    subset, test = train_split.head(n), test_split
    trained, history = module.train(module.build(model, 0), subset.images, subset.labels, config)
    probs = module.predict(trained, test.images)
    assert probs.shape == (len(test), contract.NUM_CLASSES) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert accuracy(probs, test.labels) > bar
    assert len(history.epochs) == 1 and history.epochs[0].loss < 1.0

    checkpoint = module.save(trained, tmp_path)
    assert checkpoint == tmp_path / module.CHECKPOINT and checkpoint.is_file()
    assert (tmp_path / ARCHITECTURE_FILE).is_file()
    restored = module.load(tmp_path)  # the directory alone says which architecture to build
    _assert_same_weights(module.get_weights(trained), module.get_weights(restored))
    batch = test.images[:256]  # the same batch shape both times: XLA's results may depend on it
    # Same weights bit for bit (above); the outputs agree to float32 rounding: XLA compiles the restored
    # (host numpy) and the trained (device) parameters separately and may fuse differently (measured 2.4e-7).
    np.testing.assert_allclose(module.predict(restored, batch), module.predict(trained, batch), rtol=0, atol=1e-6)


@pytest.mark.parametrize("model", ARCHITECTURES)
@pytest.mark.parametrize("name", LANES)
def test_weights_round_trip_in_canonical_layout(name, model):
    module = lane(name)
    weights = random_weights(model, seed=1)
    back = module.get_weights(module.set_weights(module.build(model, 0), weights))
    assert [tuple(a.shape for a in layer) for layer in back] == weight_shapes(model)
    _assert_same_weights(weights, back)


@pytest.mark.parametrize("name", LANES)
def test_export_source_computes_what_predict_does(name, test_split):
    """What the exporters trace (a keras.Model, an eval-mode nn.Module, a JaxFunction) is the served model."""
    module = lane(name)
    model = module.set_weights(module.build(CNN, 0), random_weights(CNN, seed=2))
    images = test_split.images[:64]
    source = module.export_source(model)
    if name == "torch":
        import torch
        assert not source.training
        with torch.no_grad():
            out = source(torch.from_numpy(images)).numpy()
    elif keras_backend(name):
        import keras
        out = keras.ops.convert_to_numpy(source(images))  # a torch-backend tensor requires grad
    else:
        out = np.asarray(source(images))
    np.testing.assert_allclose(out, module.predict(model, images), atol=1e-6)


@pytest.mark.parametrize("name", LANES)
def test_weights_of_another_architecture_are_refused(name):
    module = lane(name)
    with pytest.raises(ValueError, match="mnist-cnn: weights of shapes"):
        module.set_weights(module.build(CNN, 0), random_weights(MLP, seed=0))


@pytest.mark.parametrize("name", LANES)
def test_load_without_architecture_record_says_what_is_missing(name, tmp_path):
    module = lane(name)
    module.save(module.build(MLP, 0), tmp_path)
    (tmp_path / ARCHITECTURE_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=ARCHITECTURE_FILE):
        module.load(tmp_path)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_keras_backend_lanes_in_their_own_process(backend):
    """This file's lane tests for the Keras lane on `backend`, in a child process running that backend."""
    proc = subprocess.run([sys.executable, "-m", "pytest", __file__, "-q", "-rA", "-p", "no:cacheprovider",
                           "-k", "not in_their_own_process and not refused_here"], env=child_env(backend),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    lane_name = next(n for n in contract.LANES if keras_backend(n) == backend)
    passed = [line for line in proc.stdout.splitlines() if line.startswith("PASSED ")]
    for test in LANE_TESTS:  # each lane test ran for this lane
        assert any(f"::{test.__name__}[" in line and lane_name in line for line in passed), (test.__name__, passed)
    assert not [line for line in proc.stdout.splitlines() if line.startswith(("SKIPPED", "FAILED", "ERROR"))]


def test_a_keras_lane_of_another_backend_is_refused_here():
    """Keras imported on TensorFlow here: keras-jax cannot run in this process, and says how to run it."""
    import keras  # noqa: F401 - fixes this process's backend, as any Keras lane's import does
    if not SUITE:
        pytest.skip("checks the suite's TensorFlow process; this child runs " + BACKEND)
    from rosetta.models import BackendMismatch, needs_own_process
    assert needs_own_process("keras-jax") and not needs_own_process("keras") and not needs_own_process("jax")
    with pytest.raises(BackendMismatch, match="KERAS_BACKEND=jax"):
        lane("keras-jax")


LANE_TESTS = [test_quick_training_learns_and_checkpoint_round_trips, test_weights_round_trip_in_canonical_layout,
              test_export_source_computes_what_predict_does, test_weights_of_another_architecture_are_refused,
              test_load_without_architecture_record_says_what_is_missing]


def test_unknown_architecture_lists_built_in_ones():
    with pytest.raises(ValueError, match="mnist-mlp, mnist-cnn"):
        lane("jax").build("resnet-50", 0)


def test_unknown_lane_lists_valid_ones():
    with pytest.raises(ValueError, match="keras, torch, jax"):
        lane("mxnet")


def test_each_model_has_its_own_training_defaults_and_overrides_win():
    assert TrainConfig.for_model(MLP) == TrainConfig()  # the bare defaults stay the MLP's
    cnn = TrainConfig.for_model(CNN)
    assert (cnn.epochs, cnn.batch_size, cnn.learning_rate) == (contract.CNN_EPOCHS, contract.CNN_BATCH_SIZE,
                                                               contract.CNN_LEARNING_RATE)
    assert TrainConfig.for_model(CNN, epochs=7, batch_size=None).epochs == 7
    assert TrainConfig.for_model(CNN, batch_size=None).batch_size == contract.CNN_BATCH_SIZE
    with pytest.raises(ValueError, match="built-in models"):
        TrainConfig.for_model("resnet-50")
