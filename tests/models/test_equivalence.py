"""A Dense layer is the same matrix in every framework: one set of weights, three lanes, same answers."""
import numpy as np
import pytest

from models import lane
from models.common import TrainConfig, random_weights
from rosetta import contract


@pytest.fixture(scope="module")
def trained_weights(train_split):
    """Realistic weights (confident, all classes predicted): one quick JAX epoch on 5k images."""
    jax_lane = lane("jax")
    subset = train_split.head(5_000)
    model, _ = jax_lane.train(jax_lane.build(), subset.images, subset.labels, TrainConfig(epochs=1))
    return jax_lane.get_weights(model)


@pytest.mark.parametrize("source", ["random", "trained"])
def test_same_weights_same_probabilities_on_full_test_set(source, trained_weights, test_split):
    weights = random_weights(seed=0) if source == "random" else trained_weights
    probs = {}
    for name in contract.LANES:
        module = lane(name)
        probs[name] = module.predict(module.set_weights(module.build(), weights), test_split.images)
    reference = probs["keras"]
    if source == "trained":  # agreement on a degenerate model would prove little
        assert len(np.unique(reference.argmax(1))) == contract.NUM_CLASSES
        assert reference.max(axis=1).mean() > 0.8
    for name in ("torch", "jax"):
        diff = float(np.abs(probs[name] - reference).max())
        assert diff <= 1e-5, f"{name} vs keras: max |diff| {diff:.2e}"
        assert (probs[name].argmax(1) == reference.argmax(1)).all()
