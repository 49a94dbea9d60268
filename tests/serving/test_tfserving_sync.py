"""One TF Serving release and one set of server flags everywhere: the Dockerfile (the source of truth, read by
serving/tfserving/image.py), docker-compose, the k8s base and rendered overlays, the KServe variant, and the
side venv the Makefile builds to check the SavedModels. Any drift fails here."""
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from rosetta.serving.tfserving import image

ROOT = Path(__file__).resolve().parents[2]
TAG = image.base_tag()
FLAGS = image.server_flags()


def _tfserving_container(deployment_docs) -> dict:
    (deployment,) = [d for d in deployment_docs if d and d["kind"] == "Deployment"
                     and d["metadata"]["name"] == "tfserving"]
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def test_base_image_is_a_tensorflow_serving_release_with_a_matching_tensorflow_wheel():
    assert TAG.count(".") == 2 and image.tensorflow_version() == TAG
    assert image.side_venv() == ROOT / f".venv-tfserving-{TAG}"


def test_makefile_builds_the_side_venv_with_the_images_tensorflow():
    """tfserving.mk derives the venv's name with sed, image.py with a regex: they must agree (dry run, forced);
    the venv installs the side lock, whose tensorflow-cpu is the tag (tests/tools/test_lock.py)."""
    plan = subprocess.run(["make", "-n", "-B", "tfserving-venv"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    assert "pip install -q --require-hashes -r serving/tfserving/requirements.lock" in plan
    assert f".venv-tfserving-{TAG}/.installed" in plan


def test_k8s_base_runs_the_image_entrypoint_flags():
    docs = list(yaml.safe_load_all((ROOT / "k8s/base/tfserving/deployment.yaml").read_text()))
    c = _tfserving_container(docs)
    assert c["command"] == [image.SERVER]
    assert c["args"] == FLAGS


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_rendered_overlays_keep_the_flags(overlay):
    kubectl = shutil.which("kubectl") or ROOT / ".venv-k8s" / "bin" / "kubectl"
    if not Path(kubectl).exists():
        pytest.skip("no kubectl on PATH and no .venv-k8s (make -f k8s/k8s.mk k8s-venv installs one)")
    out = subprocess.run([str(kubectl), "kustomize", str(ROOT / "k8s/overlays" / overlay)], capture_output=True,
                         text=True, check=True).stdout
    c = _tfserving_container(list(yaml.safe_load_all(out)))
    assert [c["command"][0], *c["args"]] == [image.SERVER, *FLAGS]


def test_compose_builds_the_image_and_keeps_its_entrypoint():
    service = yaml.safe_load((ROOT / "serving/docker-compose.yml").read_text())["services"]["tfserving"]
    assert service["build"]["dockerfile"] == "serving/tfserving/Dockerfile"
    assert "image" not in service  # a pulled image would bypass the Dockerfile's tag
    for override in ("command", "entrypoint"):
        assert override not in service, f"compose overrides the image's {override}: flags would drift"


def test_kserve_tensorflow_runtime_uses_the_same_release_and_model_flags():
    docs = [d for d in yaml.safe_load_all((ROOT / "k8s/kserve/inferenceservices.yaml").read_text()) if d]
    models = [d["spec"]["predictor"]["model"] for d in docs if "model" in d["spec"]["predictor"]]
    tensorflow = [m for m in models if m["modelFormat"]["name"] == "tensorflow"]
    assert tensorflow, "the KServe variant has no TF Serving InferenceService any more: update this test"
    for model in tensorflow:
        assert model["runtimeVersion"] == TAG
        # KServe's runtime brings its own ports and model flags; what changes how a model runs must match.
        assert (image.XLA_FLAG in model.get("args", [])) == (image.XLA_FLAG in FLAGS)


def test_image_parsers_reject_ambiguous_dockerfiles(tmp_path):
    two = tmp_path / "Dockerfile"
    two.write_text("FROM tensorflow/serving:2.20.0\nFROM tensorflow/serving:2.19.0\n")
    with pytest.raises(ValueError, match="expected one"):
        image.base_tag(two)
    two.write_text("FROM tensorflow/serving:latest\n")
    with pytest.raises(ValueError, match="found \\[\\]"):
        image.base_tag(two)
    two.write_text('FROM tensorflow/serving:2.20.0\nENTRYPOINT ["/bin/sh", \\\n  "-c"]\n')
    assert image.entrypoint(two) == ["/bin/sh", "-c"]
    with pytest.raises(ValueError, match="not /usr/bin/tensorflow_model_server"):
        image.server_flags(two)
