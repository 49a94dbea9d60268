"""k8s/base/tfserving/*.config are copies (kustomize cannot read outside its root): keep them in step.
models.config is not among them: it is generated with the models and baked into the image."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["batching.config", "monitoring.config"])
def test_k8s_copy_matches_serving_config(name):
    canonical = ROOT / "serving" / "tfserving" / name
    copy = ROOT / "k8s" / "base" / "tfserving" / name
    assert copy.is_file(), f"{copy} is listed in k8s/base/kustomization.yaml but missing"
    if not canonical.is_file():
        pytest.skip(f"{canonical.relative_to(ROOT)} does not exist yet; nothing to compare the k8s copy with")
    assert copy.read_bytes() == canonical.read_bytes(), f"run: cp {canonical.relative_to(ROOT)} {copy.relative_to(ROOT)}"
