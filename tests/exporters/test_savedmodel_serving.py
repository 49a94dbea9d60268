"""The SavedModels as TF Serving will call them: tag `serve`, `serving_default` with the spec's tensor names,
and warm-up records that replay."""
import numpy as np
import pytest

from rosetta.core import manifest
from rosetta.exporters.pipeline import SOURCE_OUTPUTS

pytestmark = pytest.mark.slow


def test_serving_signature_and_warmup(artifacts_dir, test_split):
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    entries = [e for e in manifest.load(artifacts_dir).entries if e.format == "savedmodel"]
    assert len(entries) == 10  # 2 models x 5 lanes
    for e in entries:
        spec = e.spec
        version_dir = e.artifact(artifacts_dir)
        # The format dir is the SavedModel; TF Serving staging copies it to <model>/<version>/.
        assert version_dir.parts[-3:] == (e.model_name, str(e.version), "savedmodel")
        fn = tf.saved_model.load(str(version_dir), tags=["serve"]).signatures["serving_default"]
        (_, inputs), outputs = fn.structured_input_signature, fn.structured_outputs
        assert list(inputs) == spec.input_names and list(outputs) == spec.output_names
        for t in spec.inputs:
            assert inputs[t.name].shape.as_list() == list(t.static_shape) and inputs[t.name].dtype == t.dtype
        (x_name,), (y_name,) = spec.input_names, spec.output_names
        probs = fn(**{x_name: tf.constant(test_split.images[:64])})[y_name].numpy()
        with np.load(e.version_file(artifacts_dir, SOURCE_OUTPUTS)) as source:
            assert np.abs(probs - source[y_name][:64]).max() <= 1e-5

        records = list(tf.data.TFRecordDataset(str(version_dir / "assets.extra" / "tf_serving_warmup_requests")))
        assert len(records) == 2
        for raw in records:
            request = prediction_log_pb2.PredictionLog.FromString(raw.numpy()).predict_log.request
            assert request.model_spec.name == e.model_name
            assert request.model_spec.signature_name == "serving_default"
            batch = tf.make_ndarray(request.inputs[x_name])
            assert batch.shape[1:] == spec.inputs[0].shape[1:] and batch.dtype == np.float32
            fn(**{x_name: tf.constant(batch)})  # replayable exactly as TF Serving will at load
