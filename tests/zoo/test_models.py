"""Every zoo factory builds from its SOURCE string, runs on its example inputs and returns what it declares."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from rosetta.core.spec import TensorSpec
from rosetta.jax_function import JaxFunction
from rosetta.zoo.catalog import EXAMPLES, ZOO, ZooModel
from rosetta.zoo.load import build, run_source

_BUILT: dict[str, tuple[object, list[np.ndarray]]] = {}


def _built(model: ZooModel):
    """Build once per model per session: MobileNet and the Flax ResNet take seconds to build."""
    if model.name not in _BUILT:
        built = build(model)
        _BUILT[model.name] = (built, run_source(model, built, model.example_inputs()))
    return _BUILT[model.name]


@pytest.fixture(params=ZOO, ids=lambda m: m.name)
def model(request) -> ZooModel:
    return request.param


def test_outputs_have_declared_shapes_and_are_finite(model: ZooModel) -> None:
    _, outputs = _built(model)
    assert [o.shape for o in outputs] == [(EXAMPLES, *s) for s in model.output_shapes]
    assert all(np.isfinite(o).all() for o in outputs)


def test_classifier_outputs_are_distributions_with_diverse_confident_predictions(model: ZooModel) -> None:
    """Calibration (zoo.calibrate) must leave argmax gates something to check: many classes, real margins."""
    _, outputs = _built(model)
    for i in model.classifier_outputs:
        probs = outputs[i]
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert len(set(probs.argmax(axis=1).tolist())) >= 5, "random weights predict (nearly) one class"
        top2 = np.sort(probs, axis=1)[:, -2:]
        assert np.median(top2[:, 1] - top2[:, 0]) > 0.05, "top-1/top-2 margins too thin to gate on"


def test_inputs_are_deterministic_and_match_the_model(model: ZooModel) -> None:
    a, b = model.example_inputs(8), model.example_inputs(8)
    assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    for name, array in a.items():
        spec = TensorSpec.like(name, array, layout=model.layouts.get(name))  # validates layout rank too
        assert spec.datatype == "FP32" and array.std() > 0
    assert set(model.layouts) <= set(a)
    built, _ = _built(model)
    if model.lane == "torch":  # positional forward arguments carry the input names, in .npz order
        assert list(inspect.signature(built.model.forward).parameters) == list(a)
    elif model.lane == "keras":
        assert sorted(t.name for t in built.model.inputs) == sorted(a)
    else:
        assert isinstance(built.model, JaxFunction)
        assert built.model(*a.values()).shape == (8, *model.output_shapes[0])


def test_factories_are_seeded(model: ZooModel) -> None:
    _, outputs = _built(model)
    again = run_source(model, build(model), model.example_inputs())
    assert all(np.array_equal(x, y) for x, y in zip(outputs, again))


def test_image_inputs_are_in_their_documented_range() -> None:
    from rosetta.zoo import inputs

    pixels = inputs.pixels_nhwc(16, (8, 8, 3), seed=0, scale=255.0)
    assert pixels.min() >= 0 and pixels.max() <= 255 and pixels.max() > 128
    nchw = inputs.normalized_nchw(16, (3, 8, 8), seed=0)
    assert nchw.shape == (16, 3, 8, 8) and -2.2 < nchw.min() < 0 < nchw.max() < 2.7
