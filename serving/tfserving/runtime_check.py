"""Run savedmodel_check.py under the TF Serving image's TensorFlow (the side venv) for every model version a staged
TF Serving directory serves, and judge the report: loads, same outputs as the source, XLA only with the flag."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from rosetta.core.spec import ModelSpec
from rosetta.serving.tfserving import config, image

SCRIPT = Path(__file__).with_name("savedmodel_check.py")
XLA_OPS = {"XlaCallModule"}  # needs XLA:CPU JIT in TF Serving (image.XLA_FLAG)
TOLERANCE = 1e-5


@dataclass(frozen=True)
class Model:
    """One served model version: where its staged SavedModel is and what it must reproduce."""
    name: str  # "<model>/<version>": unique per job
    savedmodel: Path  # the version directory
    inputs: Path  # .npz, one array per signature input
    expected: Path  # .npz, one array per output (the source model's outputs on those inputs)
    classifier_outputs: tuple[str, ...]


def served(staged: Path) -> dict[tuple[str, int], Path]:
    """(model name, version) -> version directory, for every version the staged models.config tells TF Serving to
    serve (base_path under /models)."""
    parsed = text_format.Parse((staged / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    out = {}
    for c in parsed.model_config_list.config:
        if not c.model_version_policy.specific.versions:
            raise ValueError(f"{staged / 'models.config'}: {c.name} has no specific version policy")
        for version in c.model_version_policy.specific.versions:
            out[(c.name, int(version))] = staged / Path(c.base_path).relative_to(config.MOUNT) / str(version)
    return out


def classifier_outputs(spec: ModelSpec) -> tuple[str, ...]:
    return tuple(t.name for t in spec.outputs if t.is_classifier)


def run(python: Path, models: list[Model], workdir: Path, timeout: float = 1800) -> dict:
    """The raw report of savedmodel_check.py run by `python` (the side venv's interpreter)."""
    jobs = [{"name": m.name, "savedmodel": str(m.savedmodel), "inputs": str(m.inputs),
             "expected": str(m.expected), "classifier_outputs": list(m.classifier_outputs)} for m in models]
    jobs_file = workdir / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    done = subprocess.run([str(python), str(SCRIPT), str(jobs_file)], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{SCRIPT.name} under {python} exited {done.returncode}: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def failures(report: dict, models: list[Model], server_flags: list[str]) -> list[str]:
    """Why each model would not serve like its source in that TF Serving; empty when all do."""
    problems = []
    for m in models:
        r = report["models"].get(m.name)
        if r is None:
            problems.append(f"{m.name}: not in the report")
            continue
        if not r["loaded"]:
            problems.append(f"{m.name}: does not load/run in TF {report['tensorflow']}: {r.get('error')}")
            continue
        xla = XLA_OPS & set(r["ops"])
        if xla and image.XLA_FLAG not in server_flags:
            problems.append(f"{m.name}: uses {sorted(xla)}, which TF Serving runs only with {image.XLA_FLAG}")
        for name, o in r["outputs"].items():
            if "error" in o:
                problems.append(f"{m.name}/{name}: {o['error']}")
                continue
            if not o["max_abs_diff"] <= TOLERANCE:
                problems.append(f"{m.name}/{name}: max|diff| {o['max_abs_diff']:.3g} > {TOLERANCE}")
            if o["argmax_agreement"] is not None and o["argmax_agreement"] < 1.0:
                problems.append(f"{m.name}/{name}: argmax agreement {o['argmax_agreement']:.4%} < 100%")
    return problems
