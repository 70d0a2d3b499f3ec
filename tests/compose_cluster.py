"""A whole compose cluster under a project name of its own, always taken down with `down -v`."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from devcluster.redis_server import free_port
from tests.helpers import ROOT, Run, skip_unless_required
from worker import roles


def docker_ready() -> str | None:
    """None when `docker compose` can reach an engine, else why not."""
    try:
        subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=True)
        subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20, check=True)
    except FileNotFoundError:
        return "docker is not installed"
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return "no Docker engine answers (or Compose v2 is missing)"
    return None


@dataclass
class Compose:
    """`docker compose -p <unique name>` with this cluster's ports and logins."""

    project: str
    env: dict[str, str]

    def __call__(self, *args: str, timeout_s: float = 300, check: bool = True,
                 env: dict[str, str] | None = None) -> Run:
        proc = subprocess.run(["docker", "compose", "-p", self.project, *args], cwd=ROOT,
                              env={**os.environ, **self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout_s)
        if check and proc.returncode != 0:
            pytest.fail(f"docker compose {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}",
                        pytrace=False)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def producer(self, *args: str, timeout_s: float = 120) -> Run:
        return self("run", "--rm", "-T", "producer", *args, timeout_s=timeout_s, check=False)

    def secret(self, name: str) -> str:
        """A password of this project, from its owner's folder (SECRETS_DIR), made by its first `up`."""
        return (Path(self.env["SECRETS_DIR"]) / name).read_text().strip()

    def password(self, role: str = "producer") -> str:
        return self.secret(roles.secret_name(role))

    def passwords(self) -> list[str]:
        """Every password of the project: no part may show any of them."""
        return [self.password(role) for role in roles.ROLES] + [self.secret(roles.FLOWER)]

    def redis(self, role: str = "admin", port: str | None = None, db: int = 0) -> redis.Redis:
        """A client of database `db` on the host port, logged in as `role`."""
        return redis.Redis(port=int(port or self.env["REDIS_PORT"]), username=role, password=self.password(role),
                           db=db, socket_timeout=5)

    @property
    def host_env(self) -> dict[str, str]:
        """What a user's shell needs for the host's producer: the port, and where the owner's passwords are
        (a user's clone has them in secrets.local, where the producer looks by itself)."""
        return {"BROKER_URL": "", "RESULT_BACKEND": "", "REDIS_HOST": "", "REDIS_USER": "", "REDIS_PASSWORD": "",
                "REDIS_PASSWORD_FILE": "", "REDIS_PORT": self.env["REDIS_PORT"], "SECRETS_DIR": self.env["SECRETS_DIR"],
                "FLOWER_PORT": self.env["FLOWER_PORT"], "FLOWER_USER": self.env["FLOWER_USER"]}

    @property
    def flower_login(self) -> tuple[str, str]:
        return self.env["FLOWER_USER"], self.secret(roles.FLOWER)

    def flower(self, path: str, login: tuple[str, str] | None = None) -> tuple[int, Any]:
        """GET Flower's `path` on the host port, with basic auth when `login` is given: (status, JSON)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.env['FLOWER_PORT']}{path}")
        if login:
            request.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, None


@contextmanager
def compose_project(**env: str) -> Iterator[Compose]:
    """A compose project of its own (free host ports, own volumes, its own passwords, made by its
    first `up` in a folder of its own), removed with `down -v` even when a test fails. `env`
    overrides any variable of .env.example."""
    reason = docker_ready()
    if reason:
        skip_unless_required(f"Docker tests need an engine: {reason}")
    secrets = Path(tempfile.mkdtemp(prefix="cpd-secrets-"))
    cluster = Compose(
        project=f"cpd-test-{uuid.uuid4().hex[:8]}",
        env={"REDIS_PORT": str(free_port()), "FLOWER_PORT": str(free_port()), "APP_TAG": "test",
             "SECRETS_DIR": str(secrets / "s"), "FLOWER_USER": "tester", "WORKERS": "2", **env},
    )
    try:
        yield cluster
    finally:
        logs = cluster("logs", "--no-color", "--tail", "50", check=False, timeout_s=60)
        down = cluster("down", "-v", "--remove-orphans", "--timeout", "10", check=False, timeout_s=180)
        shutil.rmtree(secrets, ignore_errors=True)
        if down.returncode != 0:
            print(logs.stdout[-5000:])
            pytest.fail(f"docker compose down failed: {down.stderr[-2000:]}", pytrace=False)
        # `down`, as the README says it, stops everything: flavours and one-off producers too.
        label = f"label=com.docker.compose.project={cluster.project}"
        left = subprocess.run(["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True,
                              timeout=30).stdout.split()
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True, timeout=60)
            pytest.fail(f"docker compose down left {len(left)} containers of {cluster.project}", pytrace=False)
