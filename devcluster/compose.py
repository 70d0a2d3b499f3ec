"""One compose project of our own: a unique name, free loopback ports, its own passwords, always `down -v`.

The e2e and fault tests (tests/compose_cluster.py, a thin pytest wrapper) and the benchmark
(benchmarks.clusters.ComposeCluster) start their compose clusters with `ComposeProject`, so
a project never meets the user's own (`docker compose up` in the clone: project name, ports
6379/5555, secrets.local) nor another test's, and its teardown is written down once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis

from devcluster.redis_server import HOST, free_port
from settings import roles
from settings.urls import redis_url

#: Where docker-compose.yml is: the clone's top folder.
ROOT = Path(__file__).resolve().parent.parent


class ComposeError(RuntimeError):
    """Raised when a `docker compose` command that had to succeed failed; says which, and the end of its stderr."""


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
class ComposeProject:
    """`docker compose -p <name>` with this project's variables (host ports, SECRETS_DIR) over ours.

    `home`, when set, is a folder of the project's own (its passwords): `down` removes it.
    """

    project: str
    env: dict[str, str]
    home: Path | None = None

    @classmethod
    def new(cls, prefix: str = "cpd", **env: str) -> ComposeProject:
        """A project of its own: a unique name, free ports on 127.0.0.1 for Redis and Flower, and
        a fresh folder whose `s` the `secrets` service fills with passwords on the first `up`.
        `env` adds or overrides any variable of .env.example. The projects of one `prefix` share
        one image (`celery-parallelism-demo:<prefix>`), built by the first `up --build`."""
        home = Path(tempfile.mkdtemp(prefix=f"{prefix}-secrets-"))
        return cls(f"{prefix}-{uuid.uuid4().hex[:8]}",
                   {"REDIS_PORT": str(free_port()), "FLOWER_PORT": str(free_port()), "SECRETS_DIR": str(home / "s"),
                    "APP_IMAGE": f"celery-parallelism-demo:{prefix}", **env}, home)

    def run(self, *args: str, timeout_s: float = 300, check: bool = False,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`docker compose -p NAME *args` in the clone, output captured; ComposeError if `check` and it failed."""
        proc = subprocess.run(["docker", "compose", "-p", self.project, *args], cwd=ROOT,
                              env={**os.environ, **self.env, **(env or {})},  # compose's, not our settings
                              capture_output=True, text=True,
                              timeout=timeout_s)
        if check and proc.returncode != 0:
            raise ComposeError(f"docker compose {' '.join(args)} exited {proc.returncode}: "
                               f"{proc.stderr.strip()[-800:]}")
        return proc

    __call__ = run

    def up(self, *args: str, timeout_s: float = 900) -> subprocess.CompletedProcess[str]:
        """`up -d --wait *args`: returns once every service is healthy; ComposeError if one is not."""
        return self.run("up", "-d", "--wait", *args, timeout_s=timeout_s, check=True)

    def down(self, grace_s: float = 10, timeout_s: float = 180) -> list[str]:
        """`down -v --remove-orphans`, then its folder removed and any container of the project
        still there (a one-off `run`, a flavour) removed too. Returns what went wrong, [] if nothing.

        `grace_s` is compose's stop timeout: how long a worker may finish its job after SIGTERM.
        """
        problems = []
        down = self.run("down", "-v", "--remove-orphans", "--timeout", f"{grace_s:g}", timeout_s=timeout_s)
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
        if down.returncode != 0:
            problems.append(f"docker compose down failed: {down.stderr[-2000:]}")
        # `down`, as the README says it, stops everything: flavours and one-off producers too.
        label = f"label=com.docker.compose.project={self.project}"
        left = subprocess.run(["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True,
                              timeout=30).stdout.split()
        if left:
            subprocess.run(["docker", "rm", "-f", *left], capture_output=True, timeout=60)
            problems.append(f"docker compose down left {len(left)} containers of {self.project}")
        return problems

    # --- the project's Redis ---------------------------------------------------------------

    def secret(self, name: str) -> str:
        """A password of this project, from its owner's folder (SECRETS_DIR), made by its first `up`."""
        return (Path(self.env["SECRETS_DIR"]) / name).read_text().strip()

    def password(self, role: str = "producer") -> str:
        return self.secret(roles.secret_name(role))

    def passwords(self) -> list[str]:
        """Every password of the project: no part may show any of them."""
        return [self.password(role) for role in roles.ROLES] + [self.secret(roles.FLOWER)]

    def url(self, db: int = 0, role: str = "producer") -> str:
        """The URL of database `db` (0: jobs, 1: results) on the host port, for `role`."""
        return redis_url(HOST, int(self.env["REDIS_PORT"]), db, role, self.password(role))

    def redis(self, role: str = "admin", port: str | None = None, db: int = 0) -> redis.Redis:
        """A client of database `db` on the host port (or another), logged in as `role`."""
        return redis.Redis(host=HOST, port=int(port or self.env["REDIS_PORT"]), username=role,
                           password=self.password(role), db=db, socket_timeout=5)

    # --- its containers --------------------------------------------------------------------

    def pids(self, service: str) -> list[int]:
        """The host pid of each running container of `service` (for its cgroup, /proc)."""
        ids = self.run("ps", "-q", service, check=True).stdout.split()
        if not ids:
            return []
        out = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", *ids], capture_output=True, text=True,
                             check=True, timeout=60).stdout
        return [int(p) for p in out.split()]
