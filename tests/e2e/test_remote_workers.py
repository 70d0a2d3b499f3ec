"""Workers on another host, played by a second compose project on the same engine: it shares
one Docker network with the main project, where Redis speaks nothing but TLS."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from cluster.workers import wait_for_workers
from devcluster.local_cluster import make_app
from devcluster.redis_server import free_port
from settings.urls import redis_url
from tests.compose_cluster import Compose, compose_project
from tests.helpers import ROOT, run_producer

pytestmark = pytest.mark.docker

MAIN = ["-f", "docker-compose.yml", "-f", "compose.tls.yml", "-f", "tests/e2e/compose/main-on-bridge.yml"]
REMOTE = ["-f", "compose.worker.yml", "-f", "tests/e2e/compose/remote-on-bridge.yml"]


def make_tls(folder: Path) -> str:
    out = subprocess.run([str(ROOT / "scripts" / "make-tls"), str(folder), "broker.test"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return out.strip().split("=", 1)[1]


@pytest.fixture(scope="module")
def network():
    name = f"cpd-bridge-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "network", "create", name], capture_output=True, check=True, timeout=60)
    yield name
    subprocess.run(["docker", "network", "rm", name], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def clusters(network, tmp_path_factory):
    tls = make_tls(tmp_path_factory.mktemp("tls") / "tls")
    tls_port = str(free_port())
    with compose_project(REDIS_TLS_DIR=tls, REDIS_TLS_PORT=tls_port, REDIS_TLS_HOST_IP="127.0.0.1",
                         BRIDGE_NETWORK=network) as main:
        main(*MAIN, "up", "-d", "--build", "--wait", timeout_s=600)
        # The other host gets the CA and the workers' password, copied: nothing else of the main host's.
        redis_id = main(*MAIN, "ps", "-q", "redis").stdout.strip()
        on_bridge = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'  # its address there
        address = subprocess.run(["docker", "inspect", "-f", on_bridge, redis_id], capture_output=True, text=True,
                                 check=True, timeout=60).stdout.strip()
        remote = Compose(f"{main.project}-remote", {**main.env, "BROKER_HOST": "broker.test", "BROKER_IP": address,
                                                    "APP_IMAGE": main.env["APP_IMAGE"],
                                                    "REDIS_PASSWORD_FILE": f"{main.env['SECRETS_DIR']}/redis-worker"})
        try:
            remote(*REMOTE, "up", "-d", "--wait", timeout_s=300)
            all_answer(main, 4)
            yield main, remote
        finally:
            remote(*REMOTE, "down", "-v", "--timeout", "10", check=False, timeout_s=180)


def all_answer(main: Compose, workers: int) -> None:
    """Wait until `workers` workers of both hosts answer ping (over TLS, from the host): healthy
    containers are not yet answering ones on a busy machine, and the producer counts the slots
    online from who answers within a second."""
    ca = f"{main.env['REDIS_TLS_DIR']}/ca.crt"
    port, password = int(main.env["REDIS_TLS_PORT"]), main.password("producer")
    app = make_app(redis_url("127.0.0.1", port, 0, "producer", password, tls_ca_file=ca),
                   redis_url("127.0.0.1", port, 1, "producer", password, tls_ca_file=ca))
    try:
        wait_for_workers(app, workers, timeout_s=120)
    finally:
        app.close()


def container_ids(compose: Compose, files: list[str]) -> set[str]:
    return {c[:12] for c in compose(*files, "ps", "-q", "worker").stdout.split()}


def test_eight_jobs_run_on_the_workers_of_both_hosts(clusters):
    main, remote = clusters
    run = main(*MAIN, "run", "--rm", "-T", "producer", "--jobs", "8", "--json", check=False, timeout_s=180)
    assert run.returncode == 0, run.stderr
    hosts = {r["hostname"] for r in run.document["results"]}
    assert len(hosts) == 4 and run.document["summary"]["slots_online"] == 4
    assert hosts & container_ids(main, MAIN) and hosts & container_ids(remote, REMOTE)  # both hosts took jobs


def test_the_host_producer_reaches_redis_over_tls_on_loopback(clusters, tmp_path):
    main, _ = clusters
    env = {**main.host_env, "REDIS_PORT": main.env["REDIS_TLS_PORT"],
           "REDIS_TLS_CA_FILE": f"{main.env['REDIS_TLS_DIR']}/ca.crt"}  # the owner's producer password by itself
    run = run_producer("--jobs", "2", "--duration", "0.2", "--json", env=env, timeout_s=120)
    assert run.returncode == 0, run.stderr
    published = main(*MAIN, "port", "redis", "6380").stdout.strip()
    assert published == f"127.0.0.1:{main.env['REDIS_TLS_PORT']}"
    assert main(*MAIN, "port", "redis", "6379", check=False).stdout.strip() in ("", ":0")  # no plain port


def test_a_wrong_ca_or_password_is_refused_in_one_line(clusters, tmp_path):
    main, remote = clusters
    other_ca = make_tls(tmp_path / "other")
    for args, env, expected in (([], {"REDIS_TLS_DIR": other_ca}, "certificate verify failed"),
                                (["-e", "REDIS_PASSWORD=wrong"], {}, "refused the password")):
        run = remote(*REMOTE, "run", "--rm", "-T", *args, "--entrypoint", "python", "worker", "-m", "producer",
                     "status", check=False, timeout_s=120, env=env)
        assert run.returncode == 3, run.stderr
        (line,) = [line for line in run.stderr.splitlines() if line.startswith("producer:")]
        assert expected in line and "Traceback" not in run.stderr


def test_the_other_hosts_workers_hold_the_worker_password_alone(clusters):
    main, remote = clusters
    held = remote(*REMOTE, "exec", "-T", "worker", "sh", "-c", "ls /run/secrets; cat /run/secrets/*/redis_password")
    assert held.stdout.split() == ["worker", main.password("worker")]
    import redis

    with pytest.raises(redis.exceptions.NoPermissionError):  # over TLS too, the worker's user is a worker's
        redis.Redis(port=int(main.env["REDIS_TLS_PORT"]), username="worker", password=main.password("worker"),
                    ssl=True, ssl_ca_certs=f"{main.env['REDIS_TLS_DIR']}/ca.crt", socket_timeout=5).flushall()
