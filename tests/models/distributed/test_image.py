"""The training image (models/distributed/Dockerfile, run by k8s/training) installs the pinned closure of what
the torch and jax lanes' data-parallel workers import, and copies what they read."""
import json
import re
import subprocess
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

from tools.lock import parse

ROOT = Path(__file__).resolve().parents[3]
HERE = ROOT / "models" / "distributed"
OWN = "rosetta-export"  # this repository's code, copied into the image
# What a pod imports: the worker, train_lane and both multi-node lanes' engines.
WORKER_IMPORTS = ("rosetta.models.distributed.worker", "rosetta.models.training", "rosetta.models.distributed.torch_ddp",
                  "rosetta.models.distributed.jax_dp")


def test_worker_imports_only_what_the_image_installs():
    code = ("import importlib, json, sys\n"
            f"for m in {WORKER_IMPORTS!r}: importlib.import_module(m)\n"
            "from importlib.metadata import packages_distributions\n"
            "dists = packages_distributions()\n"
            "top = {n.split('.')[0] for n in sys.modules} - set(sys.stdlib_module_names)\n"
            "print(json.dumps(sorted({d for t in top for d in dists.get(t, [])})))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    needed = {canonicalize_name(d) for d in json.loads(proc.stdout.splitlines()[-1])}
    installed = set(parse((HERE / "requirements.txt").read_text())) | {OWN}
    assert "torch" in needed and "jax" in needed  # the check saw the frameworks
    assert needed <= installed, sorted(needed - installed)


def test_dockerfile_installs_the_pins_and_copies_the_code_and_data():
    text = (HERE / "Dockerfile").read_text()
    assert "COPY models/distributed/requirements.txt /tmp/requirements.txt" in text
    assert re.findall(r"pip install [^\n]*", text) == [
        "pip install --no-cache-dir --require-hashes --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/requirements.txt \\"]
    for source, dest in (("rosetta/", "rosetta/"), ("models/", "rosetta/models/"), ("data/", "rosetta/datasets/")):
        assert f"COPY {source} /srv/{dest}" in text
    ignore = (HERE / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[1] == "*" and {"!models/", "!rosetta/", "!data/"} <= set(ignore)
    assert "USER 10001:10001" in text  # k8s/training runs it as 10001 with a read-only root filesystem
