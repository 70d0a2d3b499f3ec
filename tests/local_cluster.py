"""Fixtures: a real redis-server on a free loopback port, real `celery -A worker worker` processes.

Each fixture owns what it starts and stops it by its own pid, so a test never touches a
Redis or a cluster the user has running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.conftest import free_port, skip_unless_required, wait_for
from tests.helpers import ROOT

PASSWORD = "integration-secret"


@dataclass
class RedisServer:
    """A redis-server this test session started, with the URLs that reach it."""

    port: int
    password: str = PASSWORD

    def url(self, db: int, password: str | None = None) -> str:
        return f"redis://:{self.password if password is None else password}@127.0.0.1:{self.port}/{db}"

    @property
    def env(self) -> dict[str, str]:
        """What the producer and the workers need to find this Redis."""
        return {"BROKER_URL": self.url(0), "RESULT_BACKEND": self.url(1)}

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, db=db, socket_timeout=5)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on 127.0.0.1, password-protected, no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        skip_unless_required("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(free_port())
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(server.port), "--bind", "127.0.0.1", "--requirepass", server.password,
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _pings(server), 10, f"redis-server on port {server.port}")
        yield server
    finally:
        proc.terminate()
        proc.wait(10)


def _pings(server: RedisServer) -> bool:
    try:
        return bool(server.client().ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_env(redis_server: RedisServer) -> dict[str, str]:
    """The environment for a test that starts clean: both databases emptied."""
    server = redis_server.client()
    server.flushall()
    return redis_server.env


@dataclass
class Workers:
    """Worker processes a test started, and a Celery app to talk to them."""

    app: Celery
    procs: list[subprocess.Popen] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def pool_pids(self, index: int) -> list[int]:
        """The pool processes (children) of worker `index`."""
        pid = self.procs[index].pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def inspect(self):
        """Celery's inspect, addressed to these workers; returns as soon as all of them answered."""
        return self.app.control.inspect(timeout=1, destination=self.names, limit=len(self.names))

    def consuming(self, queue: str = "jobs") -> set[str]:
        """Which of these workers consume `queue` now."""
        replies = self.inspect().active_queues() or {}
        return {name for name, queues in replies.items() if any(q["name"] == queue for q in queues)}

    def busy(self) -> dict[str, list[str]]:
        """Task ids each worker is running now, from `inspect active` (idle workers left out)."""
        active = self.inspect().active() or {}  # fresh: no waiting past the last reply
        return {name: [t["id"] for t in tasks] for name, tasks in active.items() if tasks}


@pytest.fixture
def start_workers(redis_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Workers]]:
    """Start N real `celery -A worker worker` processes; waits until each answers ping.

    They use the session's Redis unless `redis` (BROKER_URL, RESULT_BACKEND) names another.
    Stops them all with SIGTERM (warm shutdown), then SIGKILL for any that hang.
    """
    started: list[subprocess.Popen] = []
    apps: list[Celery] = []

    def start(count: int, concurrency: int = 1, queue: str = "jobs", pool: str = "prefork",
              env: dict[str, str] | None = None, redis: dict[str, str] | None = None) -> Workers:
        urls = redis or redis_env
        app = Celery(broker=urls["BROKER_URL"], backend=urls["RESULT_BACKEND"])
        apps.append(app)
        workers = Workers(app)
        for _ in range(count):
            name = f"it-{uuid.uuid4().hex[:8]}@%h"
            log = open(tmp_path / f"{name.split('@')[0]}.log", "w")  # noqa: SIM115  (closed with the process)
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "worker", "worker", "-n", name, "-Q", queue, "-E",
                 "-c", str(concurrency), "-P", pool, "--without-gossip", "--without-mingle", "--loglevel=INFO"],
                cwd=ROOT,
                env={**os.environ, **urls, "HEALTH_FILE": str(tmp_path / f"{name}.alive"), **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a test can kill worker and pool at once
            )
            started.append(proc)
            workers.procs.append(proc)
            workers.logs.append(Path(log.name))
            workers.names.append(name.replace("%h", os.uname().nodename))

        def all_answer() -> bool:
            replies = {name for reply in app.control.ping(timeout=0.5) for name in reply}
            return set(workers.names) <= replies

        wait_for(all_answer, 30, f"{count} workers to answer ping")
        return workers

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        try:  # pool processes a test orphaned by killing their parent
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for app in apps:
        app.close()
