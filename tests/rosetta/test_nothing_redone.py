"""Nothing is redone: a training run under an unchanged key (code, data, config, seed, library versions) is
skipped, the same seed trains the same weights, and an export of an unchanged checkpoint publishes nothing."""
import json

import pytest
import torch

from rosetta.api import export_builtins
from rosetta.cli import main
from rosetta.core import manifest
from rosetta.mnist import DEFAULT_DATA_DIR
from rosetta.models.common import TrainConfig
from rosetta.models.run_key import current_metrics, run_key

TRAIN = ("train", "--model", "mnist-mlp", "--lane", "torch", "--epochs", "1", "--batch-size", "64", "--train-limit", "3000")
MODEL_DIR = "mnist-mlp-torch"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifacts")
    assert main(["--out", str(out), *TRAIN]) == 0
    return out


def _state(out) -> dict:
    return torch.load(out / MODEL_DIR / "model.pt", weights_only=True)


def test_an_unchanged_run_is_skipped_and_the_same_seed_trains_the_same_weights(trained):
    metrics = (trained / MODEL_DIR / "metrics.json").read_bytes()
    first = _state(trained)
    assert main(["--out", str(trained), *TRAIN]) == 0
    assert (trained / MODEL_DIR / "metrics.json").read_bytes() == metrics  # skipped: not even rewritten
    assert main(["--out", str(trained), *TRAIN, "--force"]) == 0
    again = json.loads((trained / MODEL_DIR / "metrics.json").read_text())
    assert [(h["loss"], h["train_accuracy"]) for h in again["history"]] == \
        [(h["loss"], h["train_accuracy"]) for h in json.loads(metrics)["history"]]
    assert again["test_accuracy"] == json.loads(metrics)["test_accuracy"]
    second = _state(trained)
    assert all(torch.equal(first[k], second[k]) for k in first)  # bit-identical weights
    # Another seed or code change is another run.
    config = TrainConfig.for_model("mnist-mlp", epochs=1, batch_size=64)
    key = run_key("mnist-mlp", "torch", config, DEFAULT_DATA_DIR, 3000)
    assert current_metrics(trained / MODEL_DIR, key) is not None
    assert current_metrics(trained / MODEL_DIR, {**key, "config": {**key["config"], "seed": 7}}) is None
    assert current_metrics(trained / MODEL_DIR, {**key, "code": "0" * 64}) is None


def test_a_second_export_of_an_unchanged_checkpoint_publishes_nothing(trained):
    out = trained
    first, _ = export_builtins("mnist-mlp", ["torch"], ["torchscript"], out, log=None, announce=print)
    assert [(e.version, e.status) for e in first] == [(1, "ok")]
    before = manifest.path_of(out).read_bytes()
    again, _ = export_builtins("mnist-mlp", ["torch"], ["torchscript"], out, log=None, announce=print)
    assert [e.key for e in again] == [e.key for e in first]
    assert manifest.path_of(out).read_bytes() == before and not (out / MODEL_DIR / "2").exists()
    forced, _ = export_builtins("mnist-mlp", ["torch"], ["torchscript"], out, log=None, announce=print, force=True)
    assert [e.version for e in forced] == [2]
