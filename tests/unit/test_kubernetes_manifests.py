"""The Kubernetes manifests (deploy/kubernetes): valid for Kubernetes, and saying what the project says.

No cluster runs here. The core objects are checked against the Kubernetes API's JSON schemas
that the `kubernetes-validate` package bundles (offline, strict: an unknown field fails);
KEDA's ScaledObject and TriggerAuthentication are custom resources those schemas do not
have, so they are checked for structure. The rest ties the manifests to the code: the
settings worker/config.py reads, the image's user, the health file, compose's worker command.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import skip_unless_required

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
NAMESPACE = "celery-demo"
SECRET = "celery-demo-secrets"
SETTINGS = "celery-demo-settings"
IMAGE = "celery-parallelism-demo"
#: Settings of Flower itself (it reads FLOWER_<option>), not of worker/config.py.
FLOWER_SETTINGS = {"FLOWER_BASIC_AUTH", "FLOWER_MAX_TASKS"}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _manifests() -> dict[str, list[dict[str, Any]]]:
    """Every object of every manifest (kustomization files aside), by file relative to DEPLOY."""
    return {str(path.relative_to(DEPLOY)): _documents(path)
            for path in sorted(DEPLOY.rglob("*.yaml")) if path.name != "kustomization.yaml"}


MANIFESTS = _manifests()
OBJECTS = [doc for docs in MANIFESTS.values() for doc in docs]
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
CORE = [doc for doc in OBJECTS if doc["kind"] not in KEDA_KINDS]


def _one(kind: str, name: str) -> dict[str, Any]:
    (found,) = [doc for doc in OBJECTS if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


WORKLOADS = [doc for doc in OBJECTS if doc["kind"] in ("Deployment", "Job")]
APP_WORKLOADS = [doc for doc in WORKLOADS if _pod_spec(doc)["containers"][0]["image"].startswith(IMAGE)]


def _config_settings() -> tuple[set[str], dict[str, str]]:
    """Names worker/config.py reads (_raw/_int/_float("NAME")), and the defaults of those read
    as `_raw("NAME") or "default"`."""
    tree = ast.parse((ROOT / "worker" / "config.py").read_text())
    names: set[str] = set()
    defaults: dict[str, str] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("_raw", "_int", "_float")
                and node.args and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value)
        if (isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) == 2
                and isinstance(node.values[0], ast.Call) and isinstance(node.values[1], ast.Constant)
                and getattr(node.values[0].func, "id", None) == "_raw"):
            defaults[node.values[0].args[0].value] = node.values[1].value
    return names, defaults


@pytest.fixture(scope="module")
def kubernetes_validate():
    try:
        import kubernetes_validate
    except ImportError:
        skip_unless_required("kubernetes-validate is not installed (pip install -e '.[test]')")
    return kubernetes_validate


def test_every_manifest_has_objects():
    assert {"namespace.yaml", "secret.yaml", "settings.yaml", "redis.yaml", "worker.yaml", "flower.yaml",
            "producer-job.yaml", "keda/scaledobject.yaml"} <= set(MANIFESTS)
    assert all(MANIFESTS.values())


def test_core_objects_match_the_kubernetes_schemas(kubernetes_validate):
    """Strict schemas of the oldest and newest Kubernetes the package bundles: unknown fields fail."""
    versions = kubernetes_validate.utils.all_versions()
    for doc in CORE:
        for version in sorted({versions[0], versions[-1]}):
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} on Kubernetes {version}: {path}: {exc.message}",
                            pytrace=False)


def test_the_validator_rejects_an_unknown_field(kubernetes_validate):
    worker = _one("Deployment", "worker")
    broken = {**worker, "spec": {**worker["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(broken, kubernetes_validate.utils.latest_version(), strict=True)


def test_everything_lives_in_the_namespace():
    for doc in OBJECTS:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"
    assert _one("Namespace", NAMESPACE)


def test_kustomizations_list_the_manifests():
    base = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert base["namespace"] == NAMESPACE
    # The producer is left out on purpose: `kubectl apply -k` never submits jobs.
    assert set(base["resources"]) == {name for name in MANIFESTS if "/" not in name} - {"producer-job.yaml"}
    assert [image["name"] for image in base["images"]] == [IMAGE]
    keda = yaml.safe_load((DEPLOY / "keda" / "kustomization.yaml").read_text())
    assert keda["namespace"] == NAMESPACE
    assert set(keda["resources"]) == {"../", "scaledobject.yaml"}


def test_the_secret_holds_placeholders_not_the_demo_password():
    secret = _one("Secret", SECRET)
    assert set(secret["stringData"]) == {"redis-password", "flower-basic-auth"}
    assert "replace" in secret["stringData"]["redis-password"]
    assert "celery-demo" not in secret["stringData"].values()
    assert secret["stringData"]["flower-basic-auth"].partition(":")[2] != "celery-demo"
    assert "REPLACE" in (DEPLOY / "secret.yaml").read_text()


def test_every_variable_set_is_one_the_code_reads():
    names, _ = _config_settings()
    readable = names | {f"{name}_FILE" for name in names}
    settings = _one("ConfigMap", SETTINGS)["data"]
    assert set(settings) <= readable
    for doc in APP_WORKLOADS:
        (container,) = _pod_spec(doc)["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": SETTINGS}}]
        own = {var["name"] for var in container.get("env", [])}
        allowed = readable | (FLOWER_SETTINGS if doc["metadata"]["name"] == "flower" else set())
        assert own <= allowed, f"{doc['metadata']['name']} sets {sorted(own - allowed)}"


def test_the_password_file_is_mounted_where_the_settings_say():
    path = Path(_one("ConfigMap", SETTINGS)["data"]["REDIS_PASSWORD_FILE"])
    for doc in [*APP_WORKLOADS, _one("Deployment", "redis")]:
        pod = _pod_spec(doc)
        secret_volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
        for container in pod.get("initContainers", []) + pod["containers"]:
            mounts = [m for m in container["volumeMounts"] if m["name"] in secret_volumes]
            assert [m["mountPath"] for m in mounts] == [str(path.parent)], container["name"]
            assert mounts[0]["readOnly"] is True
            source = secret_volumes[mounts[0]["name"]]
            assert source["secretName"] == SECRET
            assert {item["path"] for item in source["items"]} == {path.name}
            # Readable by the pod's group (fsGroup), not by the world.
            assert source["defaultMode"] == 0o440
            assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]


def test_no_password_on_a_command_line_nor_in_plain_env():
    for doc in WORKLOADS:
        pod = _pod_spec(doc)
        for container in pod.get("initContainers", []) + pod["containers"]:
            assert "--requirepass" not in container.get("command", []) + container.get("args", []), doc
            for var in container.get("env", []):
                assert "PASSWORD" not in var["name"] or "valueFrom" in var
                assert "AUTH" not in var["name"] or "valueFrom" in var
    assert "REDIS_PASSWORD" not in _one("ConfigMap", SETTINGS)["data"]


def test_app_containers_run_as_the_image_user_locked_down():
    uid = int(re.search(r"useradd .*--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1))
    assert uid == 10001
    for doc in WORKLOADS:
        pod = _pod_spec(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        if doc in APP_WORKLOADS:
            assert pod["securityContext"]["runAsUser"] == uid
        for container in pod.get("initContainers", []) + pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert "limits" in container["resources"] and "requests" in container["resources"]


def test_worker_probes_read_the_health_file_the_worker_touches():
    _, defaults = _config_settings()
    health_file = Path(defaults["HEALTH_FILE"])
    worker = _pod_spec(_one("Deployment", "worker"))
    (container,) = worker["containers"]
    assert "HEALTH_FILE" not in _one("ConfigMap", SETTINGS)["data"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[:2] == ["sh", "-c"]
        # compose's healthcheck: the file is younger than 30 s
        assert re.fullmatch(rf"test \$\(\( \$\(date \+%s\) - \$\(stat -c %Y {health_file}\) \)\) -lt 30", command[2])
    # The file's folder is writable on a read-only root filesystem.
    tmp_volumes = {m["name"] for m in container["volumeMounts"] if m["mountPath"] == str(health_file.parent)}
    assert tmp_volumes and all("emptyDir" in v for v in worker["volumes"] if v["name"] in tmp_volumes)


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _with_defaults(words: list[str]) -> list[str]:
    """Compose's ${NAME:-default} as the default."""
    return [re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", word) for word in words]


def test_worker_command_is_composes():
    compose = _compose()["services"]
    worker = _pod_spec(_one("Deployment", "worker"))["containers"][0]
    assert worker["command"] == _with_defaults(compose["worker"]["command"])
    flower = _pod_spec(_one("Deployment", "flower"))["containers"][0]["command"]
    assert compose["flower"]["command"][:len(flower)] == flower  # compose adds --conf: its login from a file
    queue = worker["command"][worker["command"].index("-Q") + 1]
    assert queue == _one("ConfigMap", SETTINGS)["data"]["QUEUE"]
    producer = _pod_spec(_one("Job", "producer"))["containers"][0]["command"]
    assert producer[:3] == compose["producer"]["entrypoint"] and producer[3:] == ["--jobs", "8"]


def test_worker_grace_period_covers_composes():
    stop_grace = _with_defaults([_compose()["x-worker"]["stop_grace_period"]])[0]
    assert _pod_spec(_one("Deployment", "worker"))["terminationGracePeriodSeconds"] >= int(stop_grace.rstrip("s"))


def test_flower_keeps_its_settings():
    env = {var["name"]: var for var in _pod_spec(_one("Deployment", "flower"))["containers"][0]["env"]}
    assert env["FLOWER_BASIC_AUTH"]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "flower-basic-auth"}
    assert env["FLOWER_MAX_TASKS"]["value"] == _with_defaults([_compose()["services"]["flower"]["environment"]
                                                                ["FLOWER_MAX_TASKS"]])[0]
    assert _one("Service", "flower")["spec"]["type"] == "ClusterIP"


def test_producer_job_runs_once():
    job = _one("Job", "producer")
    assert job["spec"]["backoffLimit"] == 0
    assert _pod_spec(job)["restartPolicy"] == "Never"


# --- KEDA: custom resources, checked for structure -------------------------------------


def test_keda_objects_have_the_fields_keda_requires():
    for doc in OBJECTS:
        if doc["kind"] in KEDA_KINDS:
            assert doc["apiVersion"] == "keda.sh/v1alpha1"
            assert doc["metadata"]["name"] and doc["spec"]
    auth = _one("TriggerAuthentication", "redis-auth")
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "password", "name": SECRET, "key": "redis-password"}]


def test_scaled_object_scales_the_workers_on_waiting_plus_held_jobs():
    scaled = _one("ScaledObject", "worker")["spec"]
    assert scaled["scaleTargetRef"] == {"name": _one("Deployment", "worker")["metadata"]["name"]}
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    triggers = {trigger["name"]: trigger for trigger in scaled["triggers"]}
    assert set(triggers) == {"waiting", "held"}
    settings = _one("ConfigMap", SETTINGS)["data"]
    for trigger in triggers.values():
        assert trigger["type"] == "redis"
        assert trigger["authenticationRef"] == {"name": "redis-auth"}
        metadata = trigger["metadata"]
        assert metadata["address"] == f"{settings['REDIS_HOST']}.{NAMESPACE}.svc.cluster.local:{settings['REDIS_PORT']}"
        assert metadata["databaseIndex"] == "0"  # the broker's db (worker/config.py)
        assert "activationListLength" in metadata
        assert all(isinstance(value, str) for value in metadata.values())  # KEDA's metadata is strings
    # The queue, and the hash where kombu keeps the jobs workers took and have not acknowledged.
    assert triggers["waiting"]["metadata"]["listName"] == settings["QUEUE"]
    assert triggers["held"]["metadata"]["listName"] == "unacked"
    modifiers = scaled["advanced"]["scalingModifiers"]
    assert modifiers["formula"] == "waiting + held"
    assert modifiers["metricType"] == "AverageValue"
    # One job per worker pod: concurrency x prefetch multiplier.
    worker_env = {v["name"]: v["value"] for v in _pod_spec(_one("Deployment", "worker"))["containers"][0]["env"]}
    assert float(modifiers["target"]) == int(worker_env["WORKER_CONCURRENCY"]) * _prefetch_multiplier()


def _prefetch_multiplier() -> int:
    match = re.search(r"^worker_prefetch_multiplier = (\d+)$", (ROOT / "worker" / "config.py").read_text(), re.M)
    return int(match.group(1))


def test_the_held_count_is_exact_only_with_late_acks_and_a_prefetch_of_one():
    """The ScaledObject's arithmetic rests on these two settings: each worker process holds at most
    one unacknowledged job, the one it runs."""
    text = (ROOT / "worker" / "config.py").read_text()
    assert re.search(r"^task_acks_late = True$", text, re.M)
    assert _prefetch_multiplier() == 1
