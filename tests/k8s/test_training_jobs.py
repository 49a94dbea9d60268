"""k8s/training: the multi-node training Jobs render, and what each pod runs fits the Job, the headless Service
and the worker it starts (schema validation and checkov: tests/k8s/test_k8s_check.py)."""
import shlex

import pytest

from rosetta.models.distributed.worker import parse
from tests.k8s.test_manifests import objects, render

TRAINING = "k8s/training"


@pytest.fixture(scope="module")
def docs():
    return render(TRAINING)


def _env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _flag(args: list[str], name: str) -> str:
    (value,) = [a.split("=", 1)[1] for a in args if a.startswith(f"{name}=")]
    return value


def test_one_indexed_job_per_multi_node_engine_behind_a_headless_service(docs):
    (service,) = objects(docs, "Service").values()
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    jobs = objects(docs, "Job")
    assert sorted(jobs) == ["train-jax", "train-torch"]
    for job in jobs.values():
        spec, pod = job["spec"], job["spec"]["template"]["spec"]
        assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] >= 2
        assert pod["subdomain"] == service["metadata"]["name"]  # per-pod DNS names
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        (container,) = pod["containers"]
        index = _env(container)["INDEX"]["fieldRef"]["fieldPath"]
        assert index == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
        (pvc,) = objects(docs, "PersistentVolumeClaim").values()
        assert claims == [pvc["metadata"]["name"]] and pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def _worker_args(args: list[str]) -> list[str]:
    i = args.index("rosetta.models.distributed.worker")
    assert args[i - 1] == "-m"
    return args[i + 1:]


def test_torch_pods_run_torchrun_with_pod_zero_as_master(docs):
    job = objects(docs, "Job")["train-torch"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert container["command"] == ["torchrun"]
    nodes = job["spec"]["completions"]
    assert int(_flag(args, "--nnodes")) == nodes and _flag(args, "--node-rank") == "$(INDEX)"
    (service,) = objects(docs, "Service").values()
    assert _flag(args, "--master-addr") == f"train-torch-0.{service['metadata']['name']}"
    assert int(_flag(args, "--master-port")) in {p["port"] for p in service["spec"]["ports"]}
    worker = parse(_worker_args(args))
    assert worker.lane == "torch" and worker.devices == nodes * int(_flag(args, "--nproc-per-node"))
    assert str(worker.out) == "/artifacts", shlex.join(args)


def test_jax_pods_initialise_jax_distributed_with_pod_zero_as_coordinator(docs):
    job = objects(docs, "Job")["train-jax"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = _env(container)
    (service,) = objects(docs, "Service").values()
    host, port = env["JAX_COORDINATOR_ADDRESS"].rsplit(":", 1)
    assert host == f"train-jax-0.{service['metadata']['name']}"
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    assert int(env["JAX_NUM_PROCESSES"]) == job["spec"]["completions"] and env["JAX_PROCESS_ID"] == "$(INDEX)"
    # $(INDEX) expands only from a variable defined earlier in the list.
    assert [e["name"] for e in container["env"]].index("INDEX") < [e["name"] for e in container["env"]].index(
        "JAX_PROCESS_ID")
    assert container["command"] == ["python"]
    worker = parse(_worker_args(container["args"]))
    assert worker.lane == "jax" and worker.devices % job["spec"]["completions"] == 0
