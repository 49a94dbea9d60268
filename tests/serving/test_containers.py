"""The container files, checked without Docker: the server imports nothing the image lacks (and nothing heavy), the Dockerfiles keep their promises, the compose file wires both servers."""
import ast
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name

from tools import lock

ROOT = Path(__file__).resolve().parents[2]
SERVING = ROOT / "serving"
HEAVY = {"torch", "tensorflow", "jax", "jaxlib", "flax", "keras"}
# What the image copies of the package (its Dockerfile): the package's __init__, rosetta.core, rosetta.serving.
IN_IMAGE = ("rosetta.core", "rosetta.serving")


def _server_modules() -> list[Path]:
    """serving/**/*.py and rosetta/core/*.py: what the server process runs (not the TF Serving side)."""
    return [p for p in [*SERVING.rglob("*.py"), *(ROOT / "rosetta" / "core").rglob("*.py")]
            if "tfserving" not in p.parts]


def test_server_code_imports_only_what_the_image_installs():
    imported = set()
    for path in _server_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"rosetta", "__future__"}
    providers = metadata.packages_distributions()
    needed = {canonicalize_name(d) for m in third_party for d in providers[m]}
    assert needed <= set(lock.parse((SERVING / "onnx" / "requirements.txt").read_text())), needed


def test_server_process_imports_nothing_heavy():
    code = ("import json, sys, rosetta.serving.__main__; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))" % sorted(HEAVY | {"rosetta"}))
    modules = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                            cwd=ROOT).stdout))
    assert not {m.split(".")[0] for m in modules} & HEAVY, modules
    outside = {m for m in modules if m != "rosetta" and not m.startswith(tuple(f"{p}." for p in IN_IMAGE))
               and m not in IN_IMAGE}
    assert not outside, f"the server imports what its image does not copy: {sorted(outside)}"


def test_onnx_dockerfile():
    text = (SERVING / "onnx" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim-\w+$", text, re.M)
    assert re.findall(r"pip install [^&\n]*", text) == ["pip install --no-cache-dir --require-hashes -r /tmp/requirements.txt "]
    assert "COPY serving/onnx/requirements.txt /tmp/requirements.txt" in text
    assert "COPY artifacts/ /srv/artifacts/" in text
    ignore = (SERVING / "onnx" / "Dockerfile.dockerignore").read_text().splitlines()
    # Of artifacts/, only the manifest, every model version's ONNX file and the download site reach the image.
    assert {"*", "!artifacts/manifest.json", "!artifacts/*/*/onnx/", "!artifacts/site/"} <= set(ignore)
    assert re.search(r"^USER 10001(:10001)?$", text, re.M)
    assert re.search(r"^EXPOSE 8080 8081$", text, re.M)
    assert "HEALTHCHECK" in text and "/v2/health/ready" in text
    assert '"--repository", "/tmp/model-repo"' in text  # the only write, under /tmp


def test_compose_runs_both_servers_and_the_parity_check_on_loopback_ports():
    compose = yaml.safe_load((SERVING / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"onnx", "tfserving", "parity"}
    for name in ("onnx", "tfserving"):
        assert all(p.startswith("127.0.0.1:") for p in services[name]["ports"])
        assert services[name]["read_only"] is True
        assert (ROOT / services[name]["build"]["dockerfile"]).is_file()
    parity = services["parity"]
    assert {"TFSERVING_REST_URL", "TFSERVING_GRPC_TARGET", "ROSETTA_SERVE_URL"} <= set(parity["environment"])
    assert parity["depends_on"] == {"onnx": {"condition": "service_healthy"},
                                    "tfserving": {"condition": "service_healthy"}}
    assert any(arg.startswith("tests/serving/") for arg in parity["command"])
    for arg in parity["command"]:
        if arg.startswith("tests/"):  # a renamed test file or function would otherwise only fail in Docker
            path, _, test = arg.partition("::")
            assert (ROOT / path).is_file(), arg
            assert not test or f"def {test}(" in (ROOT / path).read_text(), arg
