"""Each lane honours the model contract, learns, and round-trips its checkpoint."""
import numpy as np
import pytest

from models import lane
from models.common import TrainConfig, accuracy, random_weights
from rosetta import contract


@pytest.mark.parametrize("name", contract.LANES)
def test_one_epoch_on_10k_images_exceeds_90_percent(name, train_split, test_split, tmp_path):
    module = lane(name)
    subset = train_split.head(10_000)
    model, history = module.train(module.build(), subset.images, subset.labels, TrainConfig(epochs=1))
    probs = module.predict(model, test_split.images)
    assert probs.shape == (10_000, contract.NUM_CLASSES) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert accuracy(probs, test_split.labels) > 0.90
    assert len(history.epochs) == 1 and history.epochs[0].loss < 1.0

    module.save(model, tmp_path)
    restored = module.load(tmp_path)
    for (k, b), (k2, b2) in zip(module.get_weights(model), module.get_weights(restored)):
        np.testing.assert_array_equal(k, k2)
        np.testing.assert_array_equal(b, b2)
    batch = test_split.images[:256]
    np.testing.assert_array_equal(module.predict(restored, batch), module.predict(model, batch))


@pytest.mark.parametrize("name", contract.LANES)
def test_weights_round_trip_in_canonical_layout(name):
    module = lane(name)
    weights = random_weights(seed=1)
    back = module.get_weights(module.set_weights(module.build(), weights))
    assert [k.shape for k, _ in back] == [(784, 128), (128, 64), (64, 10)]
    for (k, b), (k2, b2) in zip(weights, back):
        np.testing.assert_array_equal(k, k2)
        np.testing.assert_array_equal(b, b2)


def test_unknown_lane_lists_valid_ones():
    with pytest.raises(ValueError, match="keras, torch, jax"):
        lane("mxnet")
