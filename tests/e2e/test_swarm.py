"""The cluster on Docker Swarm, as docs/beyond-one-machine.md says: a single-node swarm on the test's engine,
`docker stack deploy -c stack.yml`, `docker service scale`, 8 jobs on 4 workers, `stack rm`."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.compose_cluster import docker_ready
from tests.helpers import ROOT, skip_unless_required, wait_for
from tests.scheduling import compose_slot

pytestmark = pytest.mark.docker


def docker(*args: str, timeout_s: float = 300, env: dict[str, str] | None = None,
           check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout_s,
                          env={**os.environ, **(env or {})}, check=check)


@pytest.fixture(scope="module")
def swarm():
    """A single-node swarm: the engine's own if it is in one already, else made here and left after."""
    reason = docker_ready()
    if reason:
        skip_unless_required(f"the swarm test needs an engine: {reason}")
    with compose_slot():  # a stack is a compose project's worth of containers
        state = docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
        ours = state != "active"
        if ours:
            docker("swarm", "init", "--advertise-addr", "127.0.0.1")
        try:
            yield
        finally:
            if ours:
                docker("swarm", "leave", "--force", check=False)


def replicas(service: str) -> str:
    return docker("service", "ls", "--filter", f"name={service}", "--format", "{{.Replicas}}").stdout.strip()


def test_stack_deploy_scale_and_eight_jobs_on_four_workers(swarm):
    stack = f"cpdswarm{uuid.uuid4().hex[:6]}"
    image = f"celery-parallelism-demo:{stack}"
    python_image = os.environ.get("PYTHON_IMAGE", "python:3.12-slim")
    docker("build", "-q", "-t", image, "--build-arg", f"PYTHON_IMAGE={python_image}", ".", timeout_s=900)
    secrets = Path(tempfile.mkdtemp(prefix="cpd-swarm-")) / "s"
    env = {"SECRETS_DIR": str(secrets), "APP_IMAGE": image, "APP_TAG": stack, "WORKERS": "2"}
    try:
        # docs/beyond-one-machine.md's step: the passwords as the first `up` makes them (the compose project's
        # volume goes with `down -v`), then the stack reads them as swarm secrets.
        docker("compose", "-p", stack, "run", "--rm", "secrets", env=env)
        docker("compose", "-p", stack, "down", "-v", env=env)
        docker("stack", "deploy", "-c", "stack.yml", stack, env=env)
        wait_for(lambda: replicas(f"{stack}_worker") == "2/2", 180, "2 healthy workers", interval_s=1)
        docker("service", "scale", "--detach", f"{stack}_worker=4")
        wait_for(lambda: replicas(f"{stack}_worker") == "4/4", 180, "4 healthy workers", interval_s=1)
        run = docker("run", "--rm", "--network", f"{stack}_cluster", "-u", str(os.getuid()), "-e", "REDIS_HOST=redis",
                     "-e", "REDIS_PASSWORD_FILE=/pw", "-e", "WORKER_WAIT=60", "-v", f"{secrets}/redis-producer:/pw:ro",
                     image, "python", "-m", "producer", "--jobs", "8", "--json", timeout_s=300, check=False)
        assert run.returncode == 0, run.stderr
        document = json.loads(run.stdout)
        assert [r["status"] for r in document["results"]] == ["SUCCESS"] * 8
        assert len({r["hostname"] for r in document["results"]}) == 4  # four worker containers took jobs
        assert document["summary"]["verdict"].startswith("ran in parallel on 4 slots")
        secrets_listed = docker("secret", "ls", "--format", "{{.Name}}").stdout.split()
        assert {f"{stack}_users_acl", f"{stack}_redis_worker", f"{stack}_flower_password"} <= set(secrets_listed)
        workers = docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={stack}_worker").stdout.split()
        held = docker("exec", workers[0], "sh", "-c", "id -u; ls /run/secrets; stat -c %a /run/secrets/redis_password")
        assert held.stdout.split() == ["10001", "redis_password", "400"]  # its own password, its uid's alone
    finally:
        docker("stack", "rm", stack, check=False)
        label = f"label=com.docker.stack.namespace={stack}"
        wait_for(lambda: not docker("ps", "-aq", "--filter", label).stdout.strip(), 120, "the stack's containers to go",
                 interval_s=1)
        docker("volume", "rm", f"{stack}_redis-data", check=False)  # `stack rm` keeps volumes
        docker("image", "rm", image, check=False)
        subprocess.run(["rm", "-rf", str(secrets.parent)], check=False)
