"""The package as users get it. A user project with its own `models/`, `serving/` and `web/` packages exports its
factory (our code installs only `rosetta.*`). `pip install .` (not editable) into a fresh virtualenv, then from an
unrelated directory: `rosetta export` of a `.pt2` and `rosetta serve` of the result, with the MNIST files and the
JS runners found in the installed package (the JS packages at ROSETTA_JS_DIR, the documented place)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import numpy as np
import pytest

from benchmarks.serving.clients import RestClient, V2Rest
from benchmarks.serving.process import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

NET = textwrap.dedent("""
    import torch

    def build():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3),
                                   torch.nn.Softmax(-1)).eval()
    """)


def _user_project(root: Path) -> Path:
    """A typical ML repository: its own models/, serving/ and web/ packages, a factory in models/net.py."""
    for package in ("models", "serving", "web"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(f'"""the user\'s own {package} package"""\n')
    (root / "models" / "net.py").write_text(NET)
    np.save(root / "x.npy", np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32))
    return root


def test_a_user_project_with_models_serving_and_web_packages_exports_its_factory(tmp_path):
    project = _user_project(tmp_path / "project")
    out = tmp_path / "artifacts"
    proc = subprocess.run([sys.executable, "-m", "rosetta.cli", "export", "--model", "models.net:build",
                           "--example-inputs", "x.npy", "--format", "onnx", "--artifacts", str(out)],
                          cwd=project, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (entry,) = json.loads((out / "manifest.json").read_text())["artifacts"]
    assert (entry["model_name"], entry["format"], entry["status"]) == ("build", "onnx", "ok")


def _copy_source(dest: Path) -> Path:
    """The repository's tracked files (what `pip install .` of a clone sees), without build leftovers."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtualenv with `rosetta-export` installed from a copy of the source, not editable. Its
    dependencies are the project venv's (a .pth names that site-packages; re-installing the same 3 GB of wheels
    would prove nothing more): the package itself exists only in the new venv."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The venv's bundled setuptools would shadow the locked one the build needs (pyproject's build-system).
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y", "setuptools"], check=True)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    (site / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    source = _copy_source(tmp_path_factory.mktemp("source"))
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                           "--no-build-isolation", str(source)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def _run(venv: Path, cwd: Path, *args: str, timeout: float = 900, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**clean, **env})


def test_the_installed_package_is_whole_and_holds_nothing_else(installed, tmp_path):
    probe = ("import json, rosetta, rosetta.core.package_data as p, rosetta.mnist as m, importlib.metadata as md;"
             "print(json.dumps({'file': rosetta.__file__, 'mnist': len(m.load_split('test')),"
             "'js': sorted(f.name for f in p.js_scripts()),"
             "'top': sorted({f.parts[0] for f in md.distribution('rosetta-export').files"
             " if not f.parts[0].endswith(('.dist-info', '.pth')) and f.parts[0] != '..'})}))")
    proc = _run(installed, tmp_path, "python", "-c", probe)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout)
    assert Path(found["file"]).is_relative_to(installed)  # not the checkout
    assert found["mnist"] == 10_000  # the IDX files shipped in the wheel, checksums verified
    assert found["js"] == ["tfjs_bench.mjs", "tfjs_model.mjs", "tfjs_predict.mjs"]
    assert found["top"] == ["rosetta"]  # one top-level package: a user's `models` stays theirs, no bench, no tests


def test_installed_rosetta_exports_a_pt2_and_serves_it_from_an_unrelated_directory(installed, tmp_path):
    import torch

    work = tmp_path / "elsewhere"
    work.mkdir()
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()
    x = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.from_numpy(x[:2]),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(work / "net.pt2"))
    np.save(work / "x.npy", x)

    missing_js = _run(installed, work, "rosetta", "export", "--model", "net.pt2", "--example-inputs", "x.npy",
                      "--format", "tfjs", "--artifacts", "first", ROSETTA_JS_DIR=str(work / "no-js-here"))
    assert missing_js.returncode == 1 and "rosetta setup-js" in missing_js.stdout  # the cell says how to fix it

    done = _run(installed, work, "rosetta", "export", "--model", "net.pt2", "--example-inputs", "x.npy",
                "--format", "onnx", "tfjs", "pt2", "--artifacts", "out", ROSETTA_JS_DIR=str(ROOT / "js"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((work / "out" / "manifest.json").read_text())
    assert {(e["format"], e["status"]) for e in data["artifacts"]} == {("onnx", "ok"), ("tfjs", "ok"), ("pt2", "ok")}

    with ServerProcess(work / "out", command=[str(installed / "bin" / "rosetta"), "serve"], cwd=work,
                       log_path=tmp_path / "serve.log") as server:
        import asyncio

        async def infer() -> dict:
            client = RestClient(server.http_url, connections=1)
            try:
                return await client.post(V2Rest.path("net"), V2Rest.encode({"input": x[:5]}))
            finally:
                await client.close()

        answer = asyncio.run(infer())
    assert answer.status == 200, answer.body[:300]
    got = next(iter(V2Rest.decode(answer.body).values()))
    np.testing.assert_allclose(got, model(torch.from_numpy(x[:5])).detach().numpy(), atol=1e-5)
