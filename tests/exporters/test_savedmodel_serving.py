"""The SavedModels as TF Serving will call them: tag `serve`, `serving_default`, and its warm-up records."""
import numpy as np
import pytest

from exporters.pipeline import SOURCE_PROBABILITIES
from rosetta import contract

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("lane", contract.LANES)
def test_serving_signature_and_warmup(artifacts_dir, test_split, lane):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    version_dir = artifacts_dir / lane / "savedmodel" / f"mnist-{lane}" / "1"
    loaded = tf.saved_model.load(str(version_dir), tags=["serve"])
    fn = loaded.signatures["serving_default"]
    (_, inputs), outputs = fn.structured_input_signature, fn.structured_outputs
    assert list(inputs) == [contract.INPUT_NAME] and list(outputs) == [contract.OUTPUT_NAME]
    assert inputs["images"].shape.as_list() == [None, 28, 28] and inputs["images"].dtype == tf.float32
    assert outputs["probabilities"].shape.as_list() == [None, 10]

    probs = fn(images=tf.constant(test_split.images[:64]))["probabilities"].numpy()
    source = np.load(artifacts_dir / lane / SOURCE_PROBABILITIES)[:64]
    assert np.abs(probs - source).max() <= 1e-5

    records = list(tf.data.TFRecordDataset(str(version_dir / "assets.extra" / "tf_serving_warmup_requests")))
    assert len(records) >= 1
    for raw in records:
        log = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
        request = log.predict_log.request
        assert request.model_spec.name == f"mnist-{lane}"
        assert request.model_spec.signature_name == "serving_default"
        batch = tf.make_ndarray(request.inputs["images"])
        assert batch.shape[1:] == (28, 28) and batch.dtype == np.float32
        fn(images=tf.constant(batch))  # replayable exactly as TF Serving will at load
