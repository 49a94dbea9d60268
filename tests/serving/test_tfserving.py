"""TF Serving: its configs parse as TF Serving's protos; models.config is generated from the export manifest and
the SavedModels staged beside it; every staged SavedModel runs in the TensorFlow release the image is built on
and answers like its source; against a live TF Serving (TFSERVING_REST_URL / TFSERVING_GRPC_TARGET, e.g. the
compose services) every served model answers like its source over REST :predict and gRPC Predict."""
import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from rosetta import contract
from rosetta.core import manifest
from rosetta.core.manifest import Entry, Manifest, ManifestError
from rosetta.core.spec import ModelSpec
from rosetta.exporters.pipeline import SAMPLE_INPUTS, SOURCE_OUTPUTS
from rosetta.serving.tfserving import config, image, runtime_check

ROOT = Path(__file__).resolve().parents[2]
TFS = ROOT / "serving" / "tfserving"
PROTOS = Path(__file__).with_name("protos")
REST_URL = os.environ.get("TFSERVING_REST_URL")
GRPC_TARGET = os.environ.get("TFSERVING_GRPC_TARGET")
NO_ENDPOINT = "no TF Serving endpoint configured: set {} (e.g. {}) to run against a live TF Serving"


@pytest.fixture(scope="module")
def tfs_protos(tmp_path_factory):
    """monitoring_config_pb2 and session_bundle_config_pb2, compiled from the vendored TF Serving 2.19.0
    sources (tensorflow-serving-api ships neither) with grpc_tools' protoc."""
    out = tmp_path_factory.mktemp("tfs_pb2")
    sources = ["tensorflow_serving/config/monitoring_config.proto",
               "tensorflow_serving/servables/tensorflow/session_bundle_config.proto"]
    import grpc_tools
    include = Path(grpc_tools.__file__).parent / "_proto"
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", f"-I{include}",
                    f"--python_out={out}", *sources], check=True)
    modules = {}
    for source in sources:
        module_name = source.removesuffix(".proto").replace("/", ".") + "_pb2"
        spec = importlib.util.spec_from_file_location(module_name, out / (source.removesuffix(".proto") + "_pb2.py"))
        modules[module_name.rsplit(".", 1)[1]] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return modules


def _parse(text: str, message):
    return text_format.Parse(text, message)


def test_batching_config_is_valid_batching_parameters(tfs_protos):
    params = _parse((TFS / "batching.config").read_text(), tfs_protos["session_bundle_config_pb2"].BatchingParameters())
    assert params.max_batch_size.value == 1024  # the ORT server's per-request row limit too
    assert params.enable_large_batch_splitting.value and params.max_execution_batch_size.value <= 1024
    assert params.batch_timeout_micros.value <= 5000 and params.num_batch_threads.value >= 1


def test_monitoring_config_exposes_prometheus(tfs_protos):
    config_ = _parse((TFS / "monitoring.config").read_text(), tfs_protos["monitoring_config_pb2"].MonitoringConfig())
    assert config_.prometheus_config.enable
    assert config_.prometheus_config.path == "/monitoring/prometheus/metrics"


# --- models.config generated from the manifest, SavedModels staged beside it -------------------------------

def _spec(name: str, inputs=("x",), outputs=(("y", "probabilities"),)) -> dict:
    return {"name": name,
            "inputs": [{"name": i, "datatype": "FP32", "shape": [-1, 3]} for i in inputs],
            "outputs": [{"name": o, "datatype": "FP32", "shape": [-1, 2], "kind": kind} for o, kind in outputs]}


def _entry(name: str, fmt: str = "savedmodel", status: str = "ok", version: int = 1, path: str | None = None):
    return {"model_name": name, "lane": "x", "format": fmt, "version": version, "spec": _spec(name),
            "status": status, "path": path if path is not None else f"{name}/{version}/savedmodel", "sha256": "0" * 64}


def _raw_manifest(entries: list[dict], models: dict | None = None) -> dict:
    return {"schema_version": 3, "artifacts": entries, "models": models or {}}


def _manifest(entries: list[dict], models: dict | None = None) -> Manifest:
    return Manifest.from_json(_raw_manifest(entries, models), "test")


def _fake_export(tmp_path: Path, entries: list[dict], models: dict | None = None) -> Path:
    """An export dir with the manifest and, per ok SavedModel entry, its SavedModel directory (the entry's path)."""
    artifacts = tmp_path / "artifacts"
    for e in entries:
        if e["format"] == "savedmodel" and e["status"] == "ok":
            d = artifacts / e["path"]
            (d / "variables").mkdir(parents=True)
            (d / "saved_model.pb").write_bytes(f"graph of {e['model_name']} v{e['version']}".encode())
            (d / "variables" / "variables.index").write_bytes(b"index")
    artifacts.mkdir(exist_ok=True)
    (artifacts / "manifest.json").write_text(json.dumps(_raw_manifest(entries, models)))
    return artifacts


def _configs(text: str) -> list[tuple]:
    parsed = _parse(text, model_server_config_pb2.ModelServerConfig())
    return [(c.name, c.base_path, c.model_platform, list(c.model_version_policy.specific.versions),
             dict(c.version_labels)) for c in parsed.model_config_list.config]


def test_models_config_has_one_entry_per_model_with_an_ok_savedmodel_and_parses_as_model_server_config():
    entries = [_entry("zeta"), _entry("alpha", version=3), _entry("beta", status="gate-failed"),
               _entry("gamma", fmt="onnx", path="gamma/1/onnx/model.onnx"), _entry("delta", status="failed")]
    text = config.models_config(config.served_models(_manifest(entries)))
    assert _configs(text) == [("alpha", "/models/alpha", "tensorflow", [3], {}),
                              ("zeta", "/models/zeta", "tensorflow", [1], {})]


def test_models_config_serves_every_non_retired_version_with_stable_and_canary_labels():
    """Two served versions + labels, parsed by TF Serving's own ModelServerConfig proto; a retired version and a
    version without an ok SavedModel are not served, and a label on a version TF Serving does not serve (which it
    would refuse at start-up) is left out."""
    entries = [_entry("m", version=1), _entry("m", version=2), _entry("m", version=3),
               _entry("m", version=4, status="gate-failed"), _entry("m", fmt="onnx", version=5, path="m/5/onnx/x")]
    models = {"m": {"labels": {"stable": 2, "canary": 3}, "retired": [1]}}
    text = config.models_config(config.served_models(_manifest(entries, models)))
    assert _configs(text) == [("m", "/models/m", "tensorflow", [2, 3], {"stable": 2, "canary": 3})]
    assert "version_labels { key: \"canary\" value: 3 }" in text
    models = {"m": {"labels": {"stable": 2, "canary": 5}, "retired": []}}  # 5 is an onnx-only version
    assert _configs(config.models_config(config.served_models(_manifest(entries, models)))) == [
        ("m", "/models/m", "tensorflow", [1, 2, 3], {"stable": 2})]


def test_labels_only_point_at_versions_loaded_at_start_up_so_no_unavailable_label_flag_is_needed():
    """TF Serving loads every version of the initial config before it applies labels; only a config that changes
    while the server runs (we bake it into the image: poll 0) would need --allow_version_labels_for_unavailable_models."""
    flags = image.server_flags()
    assert "--model_config_file_poll_wait_seconds=0" in flags
    assert not any(f.startswith("--allow_version_labels_for_unavailable_models") for f in flags)


def test_models_config_quotes_names_for_the_text_format():
    entry = dataclasses.replace(Entry.from_json(_entry("x")), model_name='we"ird\\name')  # past the name check
    model = config.TfServingModel(entry.model_name, {1: entry}, {"stable": 1})
    (c,) = _parse(config.models_config([model]), model_server_config_pb2.ModelServerConfig()).model_config_list.config
    assert c.name == 'we"ird\\name' and c.base_path == '/models/we"ird\\name' and dict(c.version_labels) == {"stable": 1}


@pytest.mark.parametrize("entries, models, message", [
    ([_entry("a", status="gate-failed")], {}, "no savedmodel artifact with status ok that is not retired"),
    ([_entry("a")], {"a": {"labels": {}, "retired": [1]}}, "no savedmodel artifact with status ok that is not retired"),
])
def test_served_models_rejects_what_cannot_be_served(entries, models, message):
    with pytest.raises(ManifestError, match=re.escape(message)):
        config.served_models(_manifest(entries, models))


@pytest.mark.parametrize("schema", [1, 2])
def test_served_models_rejects_an_older_manifest(schema):
    with pytest.raises(ManifestError, match=f"schema_version {schema}, expected 3"):
        config.served_models(Manifest.from_json({"schema_version": schema, "artifacts": []}, "test"))


def test_stage_writes_the_config_and_every_served_version_in_tf_serving_layout(tmp_path):
    entries = [_entry("m-one"), _entry("m-two", version=2), _entry("m-two", version=3),
               _entry("m-two", version=1), _entry("m-three", status="gate-failed")]
    artifacts = _fake_export(tmp_path, entries, {"m-two": {"labels": {"stable": 2, "canary": 3}, "retired": [1]}})
    out = tmp_path / "stage"
    (out / "stale").mkdir(parents=True)  # a previous stage's leftovers must not survive
    assert config.stage(artifacts, out) == ["m-one/1", "m-two/2", "m-two/3"]
    assert sorted(p.name for p in out.iterdir()) == ["m-one", "m-two", "models.config"]
    assert sorted(p.name for p in (out / "m-two").iterdir()) == ["2", "3"]  # retired 1 is not staged
    assert (out / "m-one" / "1" / "saved_model.pb").read_bytes() == b"graph of m-one v1"
    assert (out / "m-two" / "3" / "saved_model.pb").read_bytes() == b"graph of m-two v3"
    assert (out / "m-two" / "2" / "variables" / "variables.index").is_file()
    assert runtime_check.served(out) == {("m-one", 1): out / "m-one" / "1", ("m-two", 2): out / "m-two" / "2",
                                         ("m-two", 3): out / "m-two" / "3"}


def test_stage_fails_clearly_when_a_savedmodel_is_missing_and_keeps_the_old_stage(tmp_path):
    artifacts = _fake_export(tmp_path, [_entry("m-one")])
    (artifacts / "m-one/1/savedmodel/saved_model.pb").unlink()
    out = tmp_path / "stage"
    out.mkdir()
    (out / "models.config").write_text("previous")
    with pytest.raises(FileNotFoundError, match="m-one version 1: no saved_model.pb"):
        config.stage(artifacts, out)
    assert (out / "models.config").read_text() == "previous"


def test_cli_stages_and_reports_errors(tmp_path, capsys):
    artifacts = _fake_export(tmp_path, [_entry("m-one")])
    assert config.main(["--artifacts", str(artifacts), "--out", str(tmp_path / "s")]) == 0
    assert "m-one/1" in capsys.readouterr().out
    assert config.main(["--artifacts", str(tmp_path / "nowhere"), "--out", str(tmp_path / "s2")]) == 1
    assert "manifest.json" in capsys.readouterr().err


def test_dockerfile_copies_the_staged_directory_and_points_the_server_at_its_config():
    dockerfile = (TFS / "Dockerfile").read_text()
    assert re.findall(r"^COPY (\S+) /models/$", dockerfile, re.M) == ["artifacts/tfserving/"]
    assert "COPY serving/tfserving/batching.config serving/tfserving/monitoring.config /etc/tfserving/" in dockerfile
    flags = image.server_flags()
    assert f"--model_config_file={config.MOUNT}/models.config" in flags
    for flag in ("--batching_parameters_file=/etc/tfserving/batching.config",
                 "--monitoring_config_file=/etc/tfserving/monitoring.config", "--enable_batching=true"):
        assert flag in flags
    assert "!artifacts/tfserving/" in (TFS / "Dockerfile.dockerignore").read_text().splitlines()


# --- every staged SavedModel runs in the image's TensorFlow ------------------------------------------------

def test_failures_judges_load_errors_tolerance_argmax_and_xla():
    models = [runtime_check.Model(n, Path(n), Path("i"), Path("e"), ("p",)) for n in ("ok", "far", "xla", "bad")]
    out = {"p": {"max_abs_diff": 1e-6, "argmax_agreement": 1.0}, "aux": {"max_abs_diff": 0.0, "argmax_agreement": None}}
    report = {"tensorflow": "2.20.0", "models": {
        "ok": {"loaded": True, "ops": ["MatMul"], "outputs": out},
        "far": {"loaded": True, "ops": ["MatMul"], "outputs": {"p": {"max_abs_diff": 2e-5, "argmax_agreement": 0.999}}},
        "xla": {"loaded": True, "ops": ["XlaCallModule"], "outputs": out},
        "bad": {"loaded": False, "error": "NotFoundError: Op type not registered"}}}
    problems = runtime_check.failures(report, models, server_flags=[])
    assert problems == ["far/p: max|diff| 2e-05 > 1e-05", "far/p: argmax agreement 99.9000% < 100%",
                        f"xla: uses ['XlaCallModule'], which TF Serving runs only with {image.XLA_FLAG}",
                        "bad: does not load/run in TF 2.20.0: NotFoundError: Op type not registered"]
    assert runtime_check.failures(report, models[2:3], server_flags=[image.XLA_FLAG]) == []


@pytest.fixture(scope="session")
def image_python() -> Path:
    """The side venv's python with tensorflow-cpu of the image's release (`make tfserving-venv`; cached)."""
    done = subprocess.run(["make", "-s", "tfserving-venv"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"make tfserving-venv failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    python = image.side_venv() / "bin" / "python"
    assert python.is_file(), f"make tfserving-venv did not create {python}: Makefile and image.py disagree"
    return python


BUILTIN_NAMES = {contract.served_name(m, lane) for m in contract.BUILTIN_MODELS for lane in contract.LANES}


def _validation_inputs(artifacts: Path, entry: Entry, test_split, workdir: Path) -> Path:
    """A built-in model: the whole MNIST test split its source_outputs.npz were computed on; any other model:
    the first validation rows the exporter kept (<model>/<N>/sample_inputs.npz, one array per input)."""
    if entry.model_name not in BUILTIN_NAMES:
        return entry.version_file(artifacts, SAMPLE_INPUTS)
    (tensor,) = entry.spec.inputs
    path = workdir / f"{entry.model_name}-inputs.npz"
    np.savez(path, **{tensor.name: test_split.images.astype(np.float32)})
    return path


def test_every_staged_savedmodel_version_runs_in_the_images_tensorflow_like_its_source(
        artifacts_dir, test_split, image_python, tmp_path):
    staged = tmp_path / "tfserving"
    config.stage(artifacts_dir, staged)
    entries = {(e.model_name, e.version): e for e in config.served_entries(manifest.load(artifacts_dir))}
    models = [runtime_check.Model(f"{name}/{version}", version_dir,
                                  _validation_inputs(artifacts_dir, entries[name, version], test_split, tmp_path),
                                  entries[name, version].version_file(artifacts_dir, SOURCE_OUTPUTS),
                                  runtime_check.classifier_outputs(entries[name, version].spec))
              for (name, version), version_dir in runtime_check.served(staged).items()]
    assert models and len(models) == len(entries)
    report = runtime_check.run(image_python, models, tmp_path)
    assert report["tensorflow"] == image.tensorflow_version()
    assert runtime_check.failures(report, models, image.server_flags()) == []


# --- a live TF Serving --------------------------------------------------------------------------------------

def _served_models(artifacts_dir: Path) -> list[Entry]:
    return config.served_entries(manifest.load(artifacts_dir))


def _inputs_and_expected(artifacts_dir: Path, entry: Entry, test_split, tmp_path: Path):
    with np.load(_validation_inputs(artifacts_dir, entry, test_split, tmp_path)) as f:
        inputs = {k: f[k] for k in f.files}
    with np.load(entry.version_file(artifacts_dir, SOURCE_OUTPUTS)) as f:
        expected = {k: f[k][:_rows(inputs)] for k in f.files}
    return inputs, expected


def _check_against_source(served: dict[str, np.ndarray], expected: dict[str, np.ndarray], spec: ModelSpec) -> None:
    classifiers = runtime_check.classifier_outputs(spec)
    for name, want in expected.items():
        got = served[name]
        assert got.shape == want.shape, name
        assert np.abs(got - want).max() <= runtime_check.TOLERANCE, name
        if name in classifiers:
            assert (got.argmax(-1) == want.argmax(-1)).all(), name


def _rows(inputs: dict[str, np.ndarray]) -> int:
    return len(next(iter(inputs.values())))


@pytest.mark.skipif(not REST_URL, reason=NO_ENDPOINT.format("TFSERVING_REST_URL", "http://127.0.0.1:8501"))
def test_live_tfserving_rest_predict_matches_source(artifacts_dir, test_split, tmp_path):
    for entry in _served_models(artifacts_dir):
        name = f"{entry.model_name}/versions/{entry.version}"  # every served version, addressed by number
        inputs, expected = _inputs_and_expected(artifacts_dir, entry, test_split, tmp_path)
        parts: dict[str, list] = {}
        with httpx.Client(base_url=REST_URL, timeout=60) as http:
            assert http.get(f"/v1/models/{name}").json()["model_version_status"][0]["state"] == "AVAILABLE"
            for i in range(0, _rows(inputs), 500):
                # Columnar "inputs" keyed by name: any number of inputs; "outputs" is then a dict by name.
                r = http.post(f"/v1/models/{name}:predict",
                              json={"inputs": {k: v[i:i + 500].tolist() for k, v in inputs.items()}})
                assert r.status_code == 200, r.text[:300]
                outputs = r.json()["outputs"]
                outputs = outputs if isinstance(outputs, dict) else {next(iter(expected)): outputs}
                for k, v in outputs.items():
                    parts.setdefault(k, []).append(np.asarray(v, np.float32))
        _check_against_source({k: np.concatenate(v) for k, v in parts.items()}, expected, entry.spec)


@pytest.mark.skipif(not GRPC_TARGET, reason=NO_ENDPOINT.format("TFSERVING_GRPC_TARGET", "127.0.0.1:8500"))
def test_live_tfserving_grpc_predict_matches_source(artifacts_dir, test_split, tmp_path):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with grpc.insecure_channel(GRPC_TARGET, options=[("grpc.max_receive_message_length", 64 << 20)]) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for entry in _served_models(artifacts_dir):
            inputs, expected = _inputs_and_expected(artifacts_dir, entry, test_split, tmp_path)
            parts: dict[str, list] = {}
            for i in range(0, _rows(inputs), 500):
                request = predict_pb2.PredictRequest()
                request.model_spec.name = entry.model_name
                request.model_spec.version.value = entry.version
                request.model_spec.signature_name = "serving_default"
                for k, v in inputs.items():
                    request.inputs[k].CopyFrom(tf.make_tensor_proto(v[i:i + 500]))
                response = stub.Predict(request, timeout=60)
                for k in expected:
                    parts.setdefault(k, []).append(tf.make_ndarray(response.outputs[k]).astype(np.float32))
            _check_against_source({k: np.concatenate(v) for k, v in parts.items()}, expected, entry.spec)
