"""The Kubernetes manifests (deploy/kubernetes): valid for Kubernetes, and saying what the project says.

No cluster runs here. The core objects are checked against the Kubernetes API's JSON schemas
that the `kubernetes-validate` package bundles (offline, strict: an unknown field fails);
KEDA's ScaledObject and TriggerAuthentication are custom resources those schemas do not
have, so they are checked for structure. The rest ties the manifests to the code: the
settings the project reads (settings.environment.VARIABLES), the image's user, the health file,
compose's worker command, and the Redis users of settings/roles.py: each workload logs in as
its own role with that role's password alone, and Redis' ACL file is rendered from the Secret
by settings/roles.py itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from settings import Settings, roles
from settings.environment import VARIABLES
from tests.helpers import skip_unless_required
from worker.config import celery_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
NAMESPACE = "celery-demo"
SECRET = "celery-demo-secrets"
SETTINGS = "celery-demo-settings"
IMAGE = "celery-parallelism-demo"
#: Settings of Flower itself (it reads FLOWER_<option>), not of the project's settings.
FLOWER_SETTINGS = {"FLOWER_MAX_TASKS"}


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
    """Names the settings read (settings.environment.VARIABLES), and the defaults of those that have one."""
    return set(VARIABLES), {name: v.default for name, v in VARIABLES.items() if v.default is not None}


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


def test_the_secret_holds_a_placeholder_per_role_and_flowers_login():
    """A key per Redis user of settings/roles.py (the owner's file names), and Flower's login: all
    placeholders, loudly marked; `python -m settings.roles secret` makes the same Secret, random."""
    secret = _one("Secret", SECRET)
    assert set(secret["stringData"]) == {*(roles.secret_name(r) for r in roles.ROLES), roles.FLOWER}
    assert all(value == roles.PLACEHOLDER for value in secret["stringData"].values())
    text = (DEPLOY / "secret.yaml").read_text()
    assert "REPLACE EVERY VALUE BEFORE DEPLOYING" in text
    assert "python -m settings.roles secret | kubectl apply -f -" in text
    made = roles.kubernetes_secret()
    def meta(doc):
        return {k: v for k, v in doc.items() if k != "stringData"}

    assert meta(made) == meta(secret)
    assert set(made["stringData"]) == set(secret["stringData"])
    assert len(set(made["stringData"].values())) == len(made["stringData"])  # each its own, none a placeholder
    assert roles.PLACEHOLDER not in made["stringData"].values()


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


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {var["name"]: var.get("value") for var in container.get("env", [])}


def _secret_mounts(pod: dict[str, Any], container: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(mount, the Secret volume's source) of each Secret the container mounts."""
    secret_volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    return [(m, secret_volumes[m["name"]]) for m in container["volumeMounts"] if m["name"] in secret_volumes]


def _role(doc: dict[str, Any]) -> str:
    return _env(_pod_spec(doc)["containers"][0])["REDIS_USER"]


def test_each_workload_logs_in_as_its_own_role_with_its_own_key_alone():
    """Compose's layout: REDIS_USER is the workload's role, its password the file
    /run/secrets/<role>/redis_password, and the pod's Secret volume holds that one key (Flower's
    login beside it for Flower), so no pod can read another role's password."""
    assert "REDIS_USER" not in _one("ConfigMap", SETTINGS)["data"]
    assert "REDIS_PASSWORD_FILE" not in _one("ConfigMap", SETTINGS)["data"]
    for doc in APP_WORKLOADS:
        name = doc["metadata"]["name"]
        pod = _pod_spec(doc)
        (container,) = pod["containers"]
        role = _role(doc)
        assert role == name and role in roles.ROLES and roles.ROLES[role].uid, name
        assert _env(container)["REDIS_PASSWORD_FILE"] == f"/run/secrets/{role}/redis_password"
        (mount, source), = _secret_mounts(pod, container)
        assert mount["mountPath"] == f"/run/secrets/{role}" and mount["readOnly"] is True
        assert source["secretName"] == SECRET
        own = {roles.secret_name(role): "redis_password"}
        if role == "flower":
            own[roles.FLOWER] = "flower_password"
        assert {item["key"]: item["path"] for item in source["items"]} == own, name
        # Readable by the pod's group (fsGroup, the role's own), not by the world.
        assert source["defaultMode"] == 0o440
        context = pod["securityContext"]
        assert context["runAsUser"] == context["runAsGroup"] == context["fsGroup"] == roles.ROLES[role].uid, name
    assert {_role(doc) for doc in APP_WORKLOADS} == {r.name for r in roles.ROLES.values() if r.uid}


def test_the_role_names_in_the_manifests_are_worker_roles_roles():
    """Every Redis user the manifests name is one of settings/roles.py, and every role is there: the
    workloads', KEDA's (keda/scaledobject.yaml) and the owner's (admin: in the Secret, in no pod)."""
    users = {_role(doc) for doc in APP_WORKLOADS}
    keda = {trigger["metadata"]["username"] for trigger in _one("ScaledObject", "worker")["spec"]["triggers"]}
    assert keda == {"keda"} and not users & keda
    keys = _one("Secret", SECRET)["stringData"]
    secret_roles = {key.removeprefix("redis-") for key in keys if key.startswith("redis-")}
    assert users | keda | {"admin"} == secret_roles == set(roles.ROLES)
    mounted = {item["key"] for doc in APP_WORKLOADS for v in _pod_spec(doc)["volumes"] if "secret" in v
               for item in v["secret"]["items"]}
    assert roles.secret_name("admin") not in mounted and roles.secret_name("keda") not in mounted


def test_redis_loads_the_acl_file_worker_roles_renders_from_the_secret(tmp_path, capsys):
    """An init container runs the project's own code (python -m settings.roles acl) on the Secret's
    passwords; Redis starts with --aclfile on that file, and holds no password itself."""
    pod = _pod_spec(_one("Deployment", "redis"))
    (init,) = pod["initContainers"]
    (redis,) = pod["containers"]
    assert init["image"].startswith(IMAGE)
    command = init["command"]
    assert command[:4] == ["python", "-m", "settings.roles", "acl"]
    folder, out = command[command.index("--passwords") + 1], command[command.index("--out") + 1]
    (mount, source), = _secret_mounts(pod, init)
    assert mount["mountPath"] == folder and mount["readOnly"] is True and source["secretName"] == SECRET
    # Every Redis user's password, under the owner's file names; not Flower's login.
    assert {item["key"]: item["path"] for item in source["items"]} == {
        roles.secret_name(r): roles.secret_name(r) for r in roles.ROLES}
    assert init["env"] == [{"name": "QUEUE", "valueFrom": {"configMapKeyRef": {"name": SETTINGS, "key": "QUEUE"}}}]
    # Redis reads the file the init container wrote, from a volume they share; compose's command otherwise.
    acl_dir = next(m for m in init["volumeMounts"] if Path(out).parent == Path(m["mountPath"]))
    (shared,) = [m for m in redis["volumeMounts"] if m["name"] == acl_dir["name"]]
    assert shared["readOnly"] is True and "emptyDir" in next(v for v in pod["volumes"] if v["name"] == shared["name"])
    compose = _compose()["services"]["redis"]["command"]
    assert redis["command"] == [out if word == compose[compose.index("--aclfile") + 1] else word for word in compose]
    assert not _secret_mounts(pod, redis)  # hashes only in this container
    # What the init container writes from secret.yaml's placeholders: settings/roles.py's ACL file.
    passwords = tmp_path / "passwords"
    passwords.mkdir()
    for key, value in _one("Secret", SECRET)["stringData"].items():
        (passwords / key).write_text(value)
    queue = _one("ConfigMap", SETTINGS)["data"]["QUEUE"]
    assert roles.main(["acl", "--passwords", str(passwords), "--out", str(tmp_path / "users.acl")]) == 0
    text = (tmp_path / "users.acl").read_text()
    assert text == roles.acl_file({r: roles.PLACEHOLDER for r in roles.ROLES}, queue)
    assert text.splitlines()[0] == "user default off resetpass ~* &* +@all" and roles.PLACEHOLDER not in text
    assert "placeholders are in use" in capsys.readouterr().err


def test_no_password_on_a_command_line_nor_in_plain_env():
    """Passwords reach every container as files only: no Secret in any environment variable (not
    even by reference), none on a command line, no *PASSWORD* variable but a file's path."""
    secret = _one("Secret", SECRET)["stringData"]
    for doc in WORKLOADS:
        pod = _pod_spec(doc)
        for container in pod.get("initContainers", []) + pod["containers"]:
            words = container.get("command", []) + container.get("args", [])
            assert "--requirepass" not in words and not {"--pass", "-a", "--user"} & set(words), doc["metadata"]["name"]
            assert not [w for w in words for value in secret.values() if value in w]
            assert "REDISCLI_AUTH" not in " ".join(words)
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe_line = " ".join(container.get(probe, {}).get("exec", {}).get("command", []))
                assert "REDISCLI_AUTH" not in probe_line and "/run/secrets" not in probe_line
            for var in container.get("env", []):
                assert "secretKeyRef" not in var.get("valueFrom", {}), f"{doc['metadata']['name']}: {var['name']}"
                assert "PASSWORD" not in var["name"] or (var["name"].endswith("_FILE") and var["value"].startswith("/"))
                assert "AUTH" not in var["name"]
            assert "envFrom" not in container or all("secretRef" not in src for src in container["envFrom"])
    assert not {"REDIS_PASSWORD", "BROKER_URL", "RESULT_BACKEND"} & set(_one("ConfigMap", SETTINGS)["data"])


def test_app_containers_run_as_their_roles_uid_locked_down():
    """Compose's hardening: each app pod as its role's uid (the image's users, settings/roles.py), no
    capability, no privilege escalation, a read-only root filesystem."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    for doc in WORKLOADS:
        pod = _pod_spec(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        if doc in APP_WORKLOADS:
            uid = roles.ROLES[_role(doc)].uid
            assert pod["securityContext"]["runAsUser"] == uid and f"--uid {uid} " in dockerfile
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
    assert compose["flower"]["command"] == flower  # --conf: its login from a file
    queue = worker["command"][worker["command"].index("-Q") + 1]
    assert queue == _one("ConfigMap", SETTINGS)["data"]["QUEUE"]
    producer = _pod_spec(_one("Job", "producer"))["containers"][0]["command"]
    assert producer[:3] == compose["producer"]["entrypoint"] and producer[3:] == ["--jobs", "8"]


def test_worker_grace_period_covers_composes():
    stop_grace = _with_defaults([_compose()["x-worker"]["stop_grace_period"]])[0]
    assert _pod_spec(_one("Deployment", "worker"))["terminationGracePeriodSeconds"] >= int(stop_grace.rstrip("s"))


def test_flower_keeps_its_settings():
    env = _env(_pod_spec(_one("Deployment", "flower"))["containers"][0])
    compose = {name: _with_defaults([value])[0] for name, value in _compose()["services"]["flower"]["environment"]
               .items() if name.startswith("FLOWER_")}
    # Its login as compose's: the user by name, the password from Flower's own file (flower.yaml mounts it).
    assert env == {**env, **compose} and "FLOWER_BASIC_AUTH" not in env
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
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "password", "name": SECRET,
                                                "key": roles.secret_name("keda")}]


def test_keda_logs_in_as_its_role_which_runs_its_script_and_no_more():
    """KEDA's redis scaler runs one Lua script (EVAL): TYPE of its key, then LLEN (list, none) or HLEN
    (hash). The `keda` role grants those on the two keys the triggers name, and writes nothing."""
    queue = _one("ConfigMap", SETTINGS)["data"]["QUEUE"]
    rules = roles.ROLES["keda"].acl(queue).split()
    keys = {rule[1:] for rule in rules if rule.startswith("~")}
    triggers = _one("ScaledObject", "worker")["spec"]["triggers"]
    assert keys == {trigger["metadata"]["listName"] for trigger in triggers}
    assert {"+eval", "+type", "+llen", "+hlen"} <= set(rules)
    assert not [rule for rule in rules if rule.startswith("+") and rule not in
                ("+@connection", "+eval", "+type", "+llen", "+hlen")]
    assert roles.ROLES["keda"].uid is None  # no container of ours holds it


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
        assert metadata["databaseIndex"] == "0"  # the broker's db (settings.model)
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
    """The workers' prefetch multiplier: the settings' default (the manifests set no WORKER_PREFETCH)."""
    return celery_config(Settings())["worker_prefetch_multiplier"]


def test_the_held_count_is_exact_only_with_late_acks_and_a_prefetch_of_one():
    """The ScaledObject's arithmetic rests on these two settings: each worker process holds at most
    one unacknowledged job, the one it runs."""
    assert celery_config(Settings())["task_acks_late"] is True
    assert _prefetch_multiplier() == 1
