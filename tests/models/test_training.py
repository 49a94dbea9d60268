"""`train_lane` writes a built-in model's checkpoint and metrics under its served name."""
import json

import numpy as np

from rosetta.models import lane
from rosetta.models.common import TrainConfig
from rosetta.models.training import METRICS, train_lane


def test_train_lane_writes_checkpoint_and_metrics_under_served_name(train_split, test_split, tmp_path):
    config = TrainConfig.for_model("mnist-cnn", epochs=1, batch_size=50)
    metrics = train_lane("mnist-cnn", "jax", train_split.head(500), test_split.head(500), config, tmp_path)
    model_dir = tmp_path / "mnist-cnn-jax"
    on_disk = json.loads((model_dir / METRICS).read_text())
    assert on_disk == metrics
    assert (on_disk["model"], on_disk["model_name"], on_disk["lane"]) == ("mnist-cnn", "mnist-cnn-jax", "jax")
    assert (on_disk["epochs"], on_disk["batch_size"], on_disk["train_examples"]) == (1, 50, 500)
    assert (on_disk["devices"], on_disk["engine"]) == (1, "single device")
    assert len(on_disk["history"]) == 1 and 0.0 <= on_disk["test_accuracy"] <= 1.0
    restored = lane("jax").load(model_dir)
    assert restored.architecture == "mnist-cnn"
    probs = lane("jax").predict(restored, test_split.images[:500])
    assert float(np.mean(probs.argmax(1) == test_split.labels[:500])) == on_disk["test_accuracy"]
