"""The local cluster: a redis-server and real `celery -A worker worker` processes, no containers.

`python -m producer local up` runs one for users and records it in a state file, so any
later shell finds it (the settings read the URLs from there, settings.model) and `local down` stops
exactly what was started. The integration and fault tests' fixtures and
`python -m benchmarks --local` start and wait for their workers with the same functions.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery import Celery
from celery.utils.nodenames import host_format

from cluster.errors import LocalClusterError
from cluster.workers import wait_for_workers
from devcluster.redis_server import HOST, RedisProcess, free_port, last_line
from settings import current, roles
from settings.local_state import is_running, process_identity, read_state, write_state
from settings.private_file import write_private
from settings.urls import redis_url
from worker.config import celery_config

#: Where `celery -A worker` finds the same `worker` package this process imports.
APP_ROOT = Path(importlib.util.find_spec("worker").origin).parent.parent  # type: ignore[union-attr,arg-type]


@dataclass
class ManagedProcess:
    """A process we started in its own process group, and how to recognise it from any other shell."""

    name: str
    pid: int
    identity: str | None  # its start time: a later process given the same pid has another
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def spawn(cls, name: str, argv: list[str], env: Mapping[str, str], log: Path) -> ManagedProcess:
        """Start `argv` with its output in `log`, in a session of its own.

        Its own session: Ctrl-C or a closed terminal in the shell that started it does not
        reach it, and its process group (the pid) takes its children along when it is killed.
        """
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "wb") as out:  # the child keeps its own copy of the file
            proc = subprocess.Popen(argv, cwd=APP_ROOT, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        return cls(name, proc.pid, process_identity(proc.pid), log, proc)

    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return is_running(self.record())

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "pgid": self.pid, "identity": self.identity, "log": str(self.log)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ManagedProcess:
        return cls(record["name"], record["pid"], record["identity"], Path(record["log"]))


def stop_processes(processes: Collection[ManagedProcess], grace_s: float = 15) -> None:
    """Stop each process and its process group: SIGTERM, then SIGKILL to the group past `grace_s`.

    SIGTERM goes to the main process only: a worker then shuts down warm, letting its pool
    finish the running jobs (Celery resets SIGTERM in pool processes, so they would die at
    once). A pid whose start time differs from the recorded one is someone else's: left alone.
    """
    ours = [p for p in processes if p.running()]
    for process in ours:
        _signal(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(p.running() for p in ours) and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in processes:
        if process in ours or process_identity(process.pid) is None:
            # Our group, or one whose leader is gone: its pgid cannot be given to a new process
            # while pool processes orphaned by the leader's death are still in it.
            _signal(process.pid, signal.SIGKILL, group=True)
        if process.proc is not None:
            process.proc.wait(5)


def _signal(pid: int, signum: int, group: bool = False) -> None:
    try:
        os.killpg(pid, signum) if group else os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def start_workers(count: int, env: Mapping[str, str], log_dir: Path, *, concurrency: int = 1, queue: str = "jobs",
                  pool: str = "prefork", prefix: str = "local", loglevel: str = "INFO", app_module: str = "worker",
                  events: bool = True, nodes: list[str] | None = None) -> list[ManagedProcess]:
    """Start `count` real `celery -A worker worker` processes with unique node names (or `nodes`'s).

    `env` must name the Redis (BROKER_URL, RESULT_BACKEND); each worker's heartbeat file
    and log go to `log_dir`. Does not wait: see cluster.workers.wait_for_workers. `app_module`
    and `events` let the benchmark start bare Celery (benchmarks.bare_app, no task events) the
    same way.
    """
    started = []
    for index in range(count):
        node = nodes[index].split("@")[0] if nodes else f"{prefix}-{uuid.uuid4().hex[:6]}"
        argv = [sys.executable, "-m", "celery", "-A", app_module, "worker", "-n", f"{node}@%h", "-Q", queue,
                *(["-E"] if events else []), "-c", str(concurrency), "-P", pool, "--without-gossip",
                "--without-mingle", f"--loglevel={loglevel}"]
        worker_env = {**env, "HEALTH_FILE": str(log_dir / f"{node}.alive")}
        started.append(ManagedProcess.spawn(host_format(f"{node}@%h"), argv, worker_env, log_dir / f"{node}.log"))
    return started


def start_recovery(env: Mapping[str, str], log_dir: Path) -> ManagedProcess:
    """Start the recovery service (`python -m recovery`): a killed worker's jobs come back in seconds.

    Its health file and log go to `log_dir`. Does not wait: it follows the events from its start.
    """
    argv = [sys.executable, "-m", "recovery"]
    return ManagedProcess.spawn("recovery", argv, {**env, "RECOVERY_HEALTH_FILE": str(log_dir / "recovery.alive")},
                                log_dir / "recovery.log")


def start_flower(app_module: str, port: int, env: Mapping[str, str], password_file: Path, log_dir: Path,
                 timeout_s: float = 60, on_start: Callable[[ManagedProcess], None] | None = None) -> ManagedProcess:
    """`celery -A <app_module> flower` on loopback `port`, its login (user `admin`) read from
    `password_file` (worker/flowerconfig.py); returns once it answers its healthcheck. `on_start`
    is told the process as soon as it runs (the local cluster records it: `local down` stops it)."""
    argv = [sys.executable, "-m", "celery", "-A", app_module, "flower", f"--port={port}", f"--address={HOST}",
            f"--conf={APP_ROOT / 'worker' / 'flowerconfig.py'}"]
    # FLOWER_MAX_TASKS: the tasks Flower keeps in memory, bounded as in compose (its default,
    # 100,000, grew it to 185 MiB in the benchmark; 10,000 to 136 MiB).
    flower_env = {"FLOWER_MAX_TASKS": "5000", **env, "FLOWER_BASIC_AUTH": "", "FLOWER_USER": "admin",
                  "FLOWER_PASSWORD_FILE": str(password_file)}
    flower = ManagedProcess.spawn("flower", argv, flower_env, log_dir / "flower.log")
    if on_start is not None:
        on_start(flower)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(f"http://{HOST}:{port}/healthcheck", timeout=1).close()
            return flower
        except OSError:
            if not flower.running() or time.monotonic() > deadline:
                raise LocalClusterError(f"flower did not start: {last_line(flower.log)}") from None
            time.sleep(0.2)


def make_app(broker_url: str, result_backend: str) -> Celery:
    """A Celery app with the project's settings (this process's), pointed at the given Redis."""
    app = Celery("local")
    app.config_from_object(celery_config(replace(current(), broker_url=broker_url, result_backend=result_backend)))
    return app


@dataclass
class LocalCluster:
    """A redis-server, N workers and maybe Flower started here, recorded in `directory`'s state file."""

    directory: Path
    port: int
    passwords: dict[str, str]  # Redis' password per role (settings/roles.py)
    redis: ManagedProcess
    workers: list[ManagedProcess] = field(default_factory=list)
    flower: ManagedProcess | None = None
    flower_port: int | None = None
    queue: str = "jobs"
    concurrency: int = 1
    pool: str = "prefork"
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    recovery: ManagedProcess | None = None
    flower_password: str = field(default_factory=roles.new_password)  # Flower's login (user admin): its own

    @property
    def broker_url(self) -> str:
        """The producer's URL of the broker: what a user's shell finds in the state file."""
        return redis_url(HOST, self.port, 0, "producer", self.passwords["producer"])

    @property
    def result_backend(self) -> str:
        return redis_url(HOST, self.port, 1, "producer", self.passwords["producer"])

    @property
    def secrets_dir(self) -> Path:
        """The passwords, a file each (0600 in a 0700 folder): processes read theirs, no environment holds one."""
        return self.directory / "secrets"

    def env_of(self, role: str) -> dict[str, str]:
        """The environment of this cluster's `role` processes: ours, pointed at this Redis as that user.

        A child's environment, not a setting read here: the blank broker variables clear the shell's
        and the clone's .env's (settings.environment.lookup), so only this Redis is named."""
        return {**os.environ, "BROKER_URL": "", "RESULT_BACKEND": "", "REDIS_PASSWORD": "", "REDIS_TLS_CA_FILE": "",
                "REDIS_HOST": HOST, "REDIS_PORT": str(self.port), "REDIS_USER": role,
                "REDIS_PASSWORD_FILE": str(self.secrets_dir / roles.secret_name(role))}

    def write_secrets(self) -> None:
        self.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.secrets_dir.chmod(0o700)
        for name, password in [*((roles.secret_name(r), p) for r, p in self.passwords.items()),
                               (roles.FLOWER, self.flower_password)]:
            write_private(self.secrets_dir / name, password)

    @property
    def log_dir(self) -> Path:
        return self.directory / "logs"

    @property
    def flower_url(self) -> str | None:
        return f"http://{HOST}:{self.flower_port}" if self.flower_port else None

    def processes(self) -> list[ManagedProcess]:
        """Everything started, in the order to stop it: Redis last, so workers can leave cleanly."""
        return [*([self.recovery] if self.recovery else []), *([self.flower] if self.flower else []), *self.workers,
                self.redis]

    # --- starting ------------------------------------------------------------------------

    @classmethod
    def start(cls, directory: Path, workers: int, *, concurrency: int = 1, queue: str = "jobs",
              pool: str = "prefork", port: int | None = None, flower: bool = False, loglevel: str = "INFO",
              prefix: str = "local", appendonly: bool = True, timeout_s: float = 60,
              recovery: bool = True) -> LocalCluster:
        """Start Redis, the recovery service and `workers` workers, wait until they answer; on any failure stop all.

        The state file is written as soon as a process exists, so `local down` stops it even
        if this process is killed half-way. (The keywords are the launcher's knobs, each with
        the default `local up` gives users; tests and benchmarks name only the ones they change,
        so the signature stays whole rather than wrapped in an options object.)
        """
        for stale in ("redis", "logs", "secrets"):  # a previous cluster's queue and logs: start clean
            shutil.rmtree(directory / stale, ignore_errors=True)
        server = RedisProcess(directory / "redis", port=port, appendonly=appendonly, queue=queue)
        server.start()
        assert server.proc is not None
        redis = ManagedProcess("redis-server", server.proc.pid, process_identity(server.proc.pid), server.log,
                               server.proc)
        cluster = cls(directory, server.port, dict(server.passwords), redis, queue=queue, concurrency=concurrency,
                      pool=pool)
        try:
            cluster.write_secrets()
            cluster.save()
            if recovery:
                cluster.start_recovery()
            cluster.add_workers(workers, loglevel=loglevel, prefix=prefix, timeout_s=timeout_s)
            if flower:
                cluster.start_flower(timeout_s)
        except BaseException:  # Ctrl-C included: leave nothing running
            cluster.stop()
            raise
        return cluster

    def add_workers(self, count: int, *, loglevel: str = "INFO", prefix: str = "local", timeout_s: float = 60) -> None:
        """Start `count` more workers and wait until each answers ping, or fail naming the first that exited."""
        if count <= 0:
            return
        new = start_workers(count, self.env_of("worker"), self.log_dir, concurrency=self.concurrency, queue=self.queue,
                            pool=self.pool, prefix=prefix, loglevel=loglevel)
        self.workers += new
        self.save()

        def exited() -> None:
            for worker in new:
                if not worker.running():
                    code = worker.proc.returncode if worker.proc else "?"
                    raise LocalClusterError(f"worker {worker.name} exited (code {code}) before answering: "
                                            f"{last_line(worker.log) or 'see ' + str(worker.log)}")

        app = make_app(self.broker_url, self.result_backend)
        try:
            wait_for_workers(app, [w.name for w in new], timeout_s, check=exited)
        finally:
            app.close()

    def remove_workers(self, count: int, grace_s: float = 20) -> None:
        """Stop the `count` most recently started workers (warm shutdown)."""
        leaving = self.workers[len(self.workers) - count:] if count else []
        stop_processes(leaving, grace_s)
        self.workers = self.workers[: len(self.workers) - len(leaving)]
        self.save()

    def start_recovery(self) -> None:
        """The recovery service for this cluster (recovery/service.py); it follows the events from now on."""
        self.recovery = start_recovery(self.env_of("recovery"), self.log_dir)
        self.save()

    def stop_recovery(self, grace_s: float = 10) -> None:
        if self.recovery is not None:
            stop_processes([self.recovery], grace_s)
        self.recovery = None
        self.save()

    def start_flower(self, timeout_s: float = 60) -> None:
        """Flower on a free loopback port, behind a login of its own (user `admin`), read from its file."""
        self.flower_port = free_port()
        def started(flower: ManagedProcess) -> None:
            self.flower = flower
            self.save()

        start_flower("worker", self.flower_port, self.env_of("flower"), self.secrets_dir / roles.FLOWER,
                     self.log_dir, timeout_s, on_start=started)

    def stop_flower(self, grace_s: float = 10) -> None:
        """Stop Flower, if it runs; the cluster goes on without it (and without its port)."""
        if self.flower is not None:
            stop_processes([self.flower], grace_s)
        self.flower = self.flower_port = None
        self.save()

    # --- the state file ------------------------------------------------------------------

    def save(self) -> None:
        write_state(self.directory, {
            "version": 2, "started_at": self.started_at, "port": self.port, "passwords": self.passwords,
            "flower_password": self.flower_password,
            "broker_url": self.broker_url, "result_backend": self.result_backend, "queue": self.queue,
            "concurrency": self.concurrency, "pool": self.pool, "flower_port": self.flower_port,
            "redis": self.redis.record(), "workers": [w.record() for w in self.workers],
            "flower": self.flower.record() if self.flower else None,
            "recovery": self.recovery.record() if self.recovery else None,
        })

    @classmethod
    def load(cls, directory: Path | None = None) -> LocalCluster | None:
        """The cluster recorded in `directory` (default: the user's state folder), or None."""
        directory = directory or current().local_cluster_dir
        state = read_state(directory)
        if state is None or state.get("version") != 2:
            return None
        return cls(directory, state["port"], state["passwords"], ManagedProcess.from_record(state["redis"]),
                   [ManagedProcess.from_record(w) for w in state["workers"]],
                   ManagedProcess.from_record(state["flower"]) if state.get("flower") else None,
                   state.get("flower_port"), state["queue"], state["concurrency"], state["pool"],
                   state["started_at"],
                   ManagedProcess.from_record(state["recovery"]) if state.get("recovery") else None,
                   state["flower_password"])

    # --- stopping ------------------------------------------------------------------------

    def stop(self, grace_s: float = 15) -> None:
        """Stop every process this cluster started, then remove its state and Redis' data (logs stay)."""
        stop_processes([p for p in self.processes() if p is not self.redis], grace_s)
        stop_processes([self.redis], grace_s)
        (self.directory / "state.json").unlink(missing_ok=True)
        shutil.rmtree(self.directory / "redis", ignore_errors=True)
        shutil.rmtree(self.secrets_dir, ignore_errors=True)

    def logs(self) -> Iterator[tuple[str, Path]]:
        """(name, log file) of each process, workers first."""
        for process in [*self.workers, *([self.recovery] if self.recovery else []),
                        *([self.flower] if self.flower else []), self.redis]:
            yield process.name, process.log
