"""One set of canonical weights, three frameworks, same answers: Dense and Conv are the same matrices in every
framework once layouts are converted (torch: OIHW kernels, NCHW flatten), and BatchNorm the same formula.
The Keras lanes on JAX and PyTorch are the keras lane's code on another backend (one backend per process): their
agreement with it is test_keras_backends.py's (the same .keras file on all three backends)."""
import numpy as np
import pytest

from rosetta import contract
from rosetta.models import lane
from rosetta.models.architectures import ARCHITECTURES, CNN, MLP, random_weights
from rosetta.models.common import TrainConfig


@pytest.fixture(scope="module")
def trained_weights(train_split):
    """Realistic weights (confident, all classes predicted; for the CNN, BatchNorm statistics that training
    moved): one quick JAX epoch per architecture on a subset."""
    jax_lane = lane("jax")
    weights = {}
    quick = {MLP: (5_000, TrainConfig.for_model(MLP, epochs=1)),
             CNN: (3_000, TrainConfig.for_model(CNN, epochs=1, batch_size=32))}
    for model, (n, config) in quick.items():
        subset = train_split.head(n)
        trained, _ = jax_lane.train(jax_lane.build(model, 0), subset.images, subset.labels, config)
        weights[model] = jax_lane.get_weights(trained)
    return weights


@pytest.mark.parametrize("model", ARCHITECTURES)
@pytest.mark.parametrize("source", ["random", "trained"])
def test_same_weights_same_probabilities_on_full_test_set(model, source, trained_weights, test_split):
    weights = random_weights(model, seed=0) if source == "random" else trained_weights[model]
    if model == CNN and source == "trained":  # training moved the BatchNorm statistics off their 0/1 start
        _, _, mean, var = weights[2]
        assert np.abs(mean).max() > 0.05 and np.abs(var - 1).max() > 0.05
    probs = {}
    for name in ("keras", "torch", "jax"):
        module = lane(name)
        probs[name] = module.predict(module.set_weights(module.build(model, 1), weights), test_split.images)
    reference = probs["keras"]
    if source == "trained":  # agreement on a degenerate model would prove little
        assert len(np.unique(reference.argmax(1))) == contract.NUM_CLASSES
        # confident, far above the 0.1 of a uniform guess: measured 0.70 for the quick MLP (label smoothing 0.1
        # keeps a trained net's top probability below 0.9)
        assert reference.max(axis=1).mean() > 0.6
    for name in ("torch", "jax"):
        diff = float(np.abs(probs[name] - reference).max())
        assert diff <= 1e-5, f"{model}: {name} vs keras: max |diff| {diff:.2e}"
        assert (probs[name].argmax(1) == reference.argmax(1)).all()
