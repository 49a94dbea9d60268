"""Output kinds: inferred from the source's values where that is safe, named by the user otherwise."""
import numpy as np
import pytest

from rosetta.core.spec import ModelSpec, SpecError, TensorSpec
from rosetta.output_kinds import apply_overrides, infer_kind, parse_overrides

RNG = np.random.default_rng(0)


def test_kinds_are_read_off_the_values():
    logits = RNG.normal(size=(32, 5)).astype(np.float32)
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    sigmoids = 1 / (1 + np.exp(-logits))
    assert infer_kind(probabilities) == "probabilities"
    assert infer_kind(sigmoids) == "multilabel"
    assert infer_kind(sigmoids[:, :1]) == "multilabel"  # one sigmoid: a binary classifier
    assert infer_kind(logits) == "logits"
    assert infer_kind(logits[:, 0]) == "regression"  # rank 1
    assert infer_kind(logits[:, :1]) == "regression"  # one unbounded column
    assert infer_kind(RNG.normal(size=(32, 4, 4)).astype(np.float32)) == "regression"
    assert infer_kind(np.eye(5, dtype=np.float32)[[0, 1, 1]]) == "probabilities"  # one-hot rows
    assert infer_kind(np.arange(10).reshape(5, 2)) == "regression"  # integers


def test_overrides_name_an_output_and_a_known_kind():
    spec = ModelSpec("m", (TensorSpec("x", "FP32", (-1, 2)),), (TensorSpec("a", "FP32", (-1, 8), kind="logits"),
                                                                  TensorSpec("b", "FP32", (-1, 1), kind="regression")))
    changed = apply_overrides(spec, parse_overrides(["a=embedding"]))
    assert [t.kind for t in changed.outputs] == ["embedding", "regression"]
    assert parse_overrides({"b": "multilabel"}) == {"b": "multilabel"}
    for bad, message in [(["a"], "expected OUTPUT=KIND"), (["a=boxes"], "unknown kind"), (["=logits"], "OUTPUT=KIND")]:
        with pytest.raises(SpecError, match=message):
            parse_overrides(bad)
    with pytest.raises(SpecError, match="has no output c; outputs: a, b"):
        apply_overrides(spec, {"c": "logits"})
