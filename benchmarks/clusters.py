"""The two clusters a benchmark runs against, started and always stopped by the benchmark.

`ComposeCluster` is the project as users run it (containers, Docker networking, password,
Flower consuming events); `LocalCluster` is the same Celery app as plain processes and a
loopback redis-server, so the cost of the containers shows as a ratio.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from celery import Celery

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_app(broker_url: str, result_backend: str) -> Celery:
    """A Celery app with the project's settings, pointed at a benchmark's Redis."""
    app = Celery("bench")
    app.config_from_object("worker.config")
    app.conf.update(broker_url=broker_url, result_backend=result_backend)
    return app


def wait_for_workers(app: Celery, count: int, timeout_s: float) -> float:
    """Seconds until `count` workers answer ping; raises RuntimeError past `timeout_s`."""
    start = time.monotonic()
    while True:
        replies = app.control.ping(timeout=0.3)
        if len(replies) >= count:
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise RuntimeError(f"only {len(replies)} of {count} workers answered ping in {timeout_s:g} s")


def proc_cpu_ns(pid: int) -> int:
    """CPU time (user + system) of one process so far, in nanoseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int((int(fields[11]) + int(fields[12])) * 1e9 / os.sysconf("SC_CLK_TCK"))


def proc_pss_bytes(pid: int) -> int:
    """Proportional set size: the memory a process really holds, shared pages split fairly."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return int(re.search(r"^Pss:\s+(\d+) kB", text, re.M).group(1)) * 1024  # type: ignore[union-attr]


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def cgroup_cpu_ns(pid: int) -> int:
    """CPU time of the container that `pid` runs in (cgroup v1 cpuacct or v2 cpu.stat)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):
            for mount in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu"):
                usage = Path(f"/sys/fs/cgroup/{mount}{path}/cpuacct.usage")
                if usage.exists():
                    return int(usage.read_text())
        if hierarchy == "0" and controllers == "":
            stat = Path(f"/sys/fs/cgroup{path}/cpu.stat")
            if stat.exists():
                usec = re.search(r"^usage_usec (\d+)", stat.read_text(), re.M)
                return int(usec.group(1)) * 1000 if usec else 0
    raise RuntimeError(f"no CPU accounting found for pid {pid}")


class ComposeCluster:
    """The compose project, under a unique name, with free host ports; `down -v` on stop."""

    name = "compose"

    def __init__(self) -> None:
        self.project = f"cpd-bench-{uuid.uuid4().hex[:8]}"
        password = "bench-" + uuid.uuid4().hex[:12]
        self.redis_port = free_port()
        self.env = {**os.environ, "REDIS_PORT": str(self.redis_port), "FLOWER_PORT": str(free_port()),
                    "REDIS_PASSWORD": password, "APP_TAG": "bench", "WORKERS": "1"}
        self.broker_url = f"redis://:{password}@127.0.0.1:{self.redis_port}/0"
        self.result_backend = f"redis://:{password}@127.0.0.1:{self.redis_port}/1"
        self.workers = 0

    def compose(self, *args: str, timeout_s: float = 600) -> str:
        proc = subprocess.run(["docker", "compose", "-p", self.project, *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0:
            raise RuntimeError(f"docker compose {' '.join(args)} failed: {proc.stderr.strip()[-800:]}")
        return proc.stdout

    def start(self, workers: int) -> None:
        self.compose("build", "--quiet", "worker")
        self.scale(workers)

    def scale(self, workers: int) -> None:
        """Bring the cluster to `workers` healthy worker containers (`up --wait`)."""
        self.compose("up", "-d", "--wait", "--scale", f"worker={workers}", timeout_s=900)
        self.workers = workers

    def remove_workers(self) -> None:
        self.compose("rm", "--stop", "--force", "worker")
        self.workers = 0

    def stop(self) -> None:
        subprocess.run(["docker", "compose", "-p", self.project, "down", "-v", "--remove-orphans", "--timeout", "5"],
                       cwd=ROOT, env=self.env, capture_output=True, timeout=300)

    def _pids(self, service: str) -> list[int]:
        ids = self.compose("ps", "-q", service).split()
        if not ids:
            return []
        out = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", *ids], capture_output=True, text=True,
                             check=True, timeout=60).stdout
        return [int(p) for p in out.split()]

    def memory(self) -> dict[str, list[int]]:
        """Bytes in use per container (docker stats: cgroup memory less page cache)."""
        out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}"],
                             capture_output=True, text=True, check=True, timeout=120).stdout
        found: dict[str, list[int]] = {"worker": [], "redis": [], "flower": []}
        for line in out.splitlines():
            name, usage = line.split("\t")
            if not name.startswith(self.project + "-"):
                continue
            service = name[len(self.project) + 1:].rsplit("-", 1)[0]
            if service in found:
                found[service].append(parse_size(usage.split("/")[0].strip()))
        return found

    def worker_cpu_ns(self) -> int:
        return sum(cgroup_cpu_ns(pid) for pid in self._pids("worker"))

    @staticmethod
    def engine_cpu_ns() -> int:
        """CPU of the Docker engine's own processes (where healthcheck execs cost most)."""
        total = 0
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    comm = (proc / "comm").read_text().strip()
                    if comm in ("dockerd", "containerd") or comm.startswith(("containerd-shim", "runc")):
                        total += proc_cpu_ns(int(proc.name))
                except (FileNotFoundError, ProcessLookupError, PermissionError):
                    continue
        return total


def parse_size(text: str) -> int:
    """Bytes in a size as docker prints it: 45.2MiB, 1.5GiB, 12.3MB."""
    number, unit = re.fullmatch(r"([\d.]+)\s*([kKMGT]?i?B)", text).groups()  # type: ignore[union-attr]
    scale = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "kB": 1e3, "KB": 1e3, "MB": 1e6,
             "GB": 1e9}[unit]
    return int(float(number) * scale)


class LocalCluster:
    """A loopback redis-server (append-only, password) and `celery worker` processes."""

    name = "local"

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("--local needs redis-server (apt-get install redis-server)")
        self.tmp = Path(tempfile.mkdtemp(prefix="cpd-bench-"))
        self.port, password = free_port(), "bench-" + uuid.uuid4().hex[:12]
        self.broker_url = f"redis://:{password}@127.0.0.1:{self.port}/0"
        self.result_backend = f"redis://:{password}@127.0.0.1:{self.port}/1"
        self.redis = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                       "--requirepass", password, "--appendonly", "yes", "--save", "",
                                       "--dir", str(self.tmp)], stdout=subprocess.DEVNULL)
        self.procs: list[subprocess.Popen] = []

    @property
    def workers(self) -> int:
        return len(self.procs)

    def start(self, workers: int) -> None:
        self.scale(workers)

    def scale(self, workers: int) -> None:
        """Start or stop worker processes until `workers` run and answer ping."""
        while len(self.procs) > workers:
            self._stop(self.procs.pop())
        env = {**os.environ, "BROKER_URL": self.broker_url, "RESULT_BACKEND": self.result_backend}
        while len(self.procs) < workers:
            i = len(self.procs)
            log = open(self.tmp / f"worker-{i}.log", "w")  # noqa: SIM115  (lives as long as the worker)
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "worker", "worker", "-n", f"bench{i}-{uuid.uuid4().hex[:6]}@%h",
                 "-E", "-c", "1", "--without-gossip", "--without-mingle", "--loglevel=INFO"],
                cwd=ROOT, env={**env, "HEALTH_FILE": str(self.tmp / f"worker-{i}.alive")}, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True))
        wait_for_workers(make_app(self.broker_url, self.result_backend), workers, 300)

    def remove_workers(self) -> None:
        self.scale(0)

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        """Warm shutdown, then SIGKILL to the whole process group if it hangs."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            self._stop(proc)
        self.procs = []
        self.redis.terminate()
        self.redis.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def memory(self) -> dict[str, list[int]]:
        """PSS per worker (main process + pool) and of redis-server."""
        return {"worker": [sum(proc_pss_bytes(p) for p in [proc.pid, *children(proc.pid)]) for proc in self.procs],
                "redis": [proc_pss_bytes(self.redis.pid)], "flower": []}

    def worker_cpu_ns(self) -> int:
        return sum(proc_cpu_ns(p) for proc in self.procs for p in [proc.pid, *children(proc.pid)])

    @staticmethod
    def engine_cpu_ns() -> int:
        return 0
