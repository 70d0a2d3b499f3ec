"""The clusters a benchmark runs against, one contract (`Cluster`), started and always stopped by the benchmark.

`ComposeCluster` is the project as users run it (containers, Docker networking, password,
Flower consuming events); `BenchLocalCluster` is the same Celery app as plain processes,
Flower and a loopback redis-server (it wraps devcluster's `LocalCluster`, the launcher behind
`local up`), so the cost of the containers shows as a ratio; `BareCluster` is bare Celery on
that same redis-server, with its defaults (`bare`) or with the project's guarantees and
nothing else of the project (`guaranteed`), so what the guarantees cost and what the
project's own code costs show as two ratios.

Each cluster tells the CPU its components used so far (`cpu_ns`) and where its Redis is,
so a measure can report CPU and Redis commands per job.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Protocol

import redis
from celery import Celery

from benchmarks import bare_app
from cluster.workers import wait_for_workers
from devcluster import local_cluster as local
from devcluster.compose import ComposeProject
from devcluster.redis_server import HOST, free_port
from settings import roles
from settings.private_file import write_private
from settings.urls import redis_url

ROOT = Path(__file__).resolve().parent.parent


class Metered(Protocol):
    """What a cost sample reads of a cluster (benchmarks.measures.throughput): its Redis, as the owner
    (INFO commandstats), and the CPU its components used so far, by component."""

    @property
    def admin_url(self) -> str:
        """The URL of its Redis as the owner (user admin): INFO commandstats is no role's business."""

    def cpu_ns(self) -> dict[str, int]:
        """CPU time used so far, in nanoseconds, by component (worker, redis, flower; 0 for one it lacks)."""


class Cluster(Metered, Protocol):
    """What a benchmark needs of a cluster (benchmarks.__main__.measure, benchmarks.measures): started with
    N workers and stopped, an app to submit with, where its Redis is, and what it costs.

    `ComposeCluster`, `BenchLocalCluster` and `BareCluster` are one each; a benchmark starts it and
    always stops it.
    """

    name: str  # the results' key: compose, local, bare, guaranteed
    baseline: bool  # a baseline runs the load and idle parts only (measure)

    @property
    def workers(self) -> int:
        """How many workers run now (0 before `start` and after `remove_workers`)."""

    @property
    def broker_url(self) -> str:
        """The producer's URL of the broker: what `app` submits to."""

    @property
    def result_backend(self) -> str:
        """The producer's URL of the result backend: where `app` reads results."""

    def start(self, workers: int) -> None:
        """Start the cluster with `workers` workers, each ready as `scale` leaves them."""

    def scale(self, workers: int) -> None:
        """Bring the cluster to `workers` workers, each ready: answering ping (compose: healthy)."""

    def remove_workers(self) -> None:
        """Stop every worker and leave the rest (Redis, Flower) running: the cold start's empty cluster."""

    def stop(self) -> None:
        """Stop everything it started; the benchmark calls it even after a `start` that failed."""

    def app(self) -> Celery:
        """A producer's app with the workers' settings (the caller closes it)."""

    def memory(self) -> dict[str, list[int]]:
        """Bytes in use per component, a figure per process or container."""

    def worker_cpu_ns(self) -> int:
        """CPU time the workers (with their pools) used so far, in nanoseconds (measures.idle_cpu)."""

    def engine_cpu_ns(self) -> int:
        """CPU of what runs the cluster besides its own processes (the Docker engine), else 0."""


class FlowerOnDemand(Protocol):
    """A cluster whose Flower the benchmark starts for a measure and stops after it (the local cluster and
    guaranteed Celery: the with-Flower figures compare the two under the same Flower)."""

    def start_flower(self) -> None:
        """Start Flower on the cluster's events; returns once it answers."""

    def stop_flower(self) -> None:
        """Stop it (nothing if it does not run)."""


def flower_on_demand(cluster: object) -> FlowerOnDemand | None:
    """The cluster, if its Flower is started on demand (compose runs Flower always, bare Celery never)."""
    return cluster if getattr(cluster, "flower_on_demand", False) else None  # type: ignore[return-value]


class ProjectCluster(Cluster, Protocol):
    """The project's own cluster (not a baseline): its producer runs as a user types it."""

    def producer(self, *args: str, timeout_s: float = 120) -> str:
        """Run the producer with `args` against this cluster, as a user types it; its stdout (raises when
        it exits non-zero)."""


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
    """The compose project (devcluster.compose: a unique name, free host ports, its own passwords);
    `down -v` on stop."""

    name = "compose"
    baseline = False

    def __init__(self) -> None:
        # The project's `secrets` service makes its passwords on the first `up`, in a folder
        # of the benchmark's own (SECRETS_DIR), not the clone's secrets.local.
        self.compose_project = ComposeProject.new("cpd-bench", WORKERS="1")
        self.workers = 0

    @property
    def project(self) -> str:
        return self.compose_project.project

    @property
    def env(self) -> dict[str, str]:
        """The project's variables (over the benchmark's environment): set one before `start`."""
        return self.compose_project.env

    @property
    def broker_url(self) -> str:
        return self.compose_project.url(0)

    @property
    def result_backend(self) -> str:
        return self.compose_project.url(1)

    @property
    def admin_url(self) -> str:
        """The owner's login: INFO commandstats is no part's business."""
        return self.compose_project.url(0, "admin")

    def compose(self, *args: str, timeout_s: float = 600) -> str:
        return self.compose_project.run(*args, timeout_s=timeout_s, check=True).stdout

    def producer(self, *args: str, timeout_s: float = 120) -> str:
        """`docker compose run --rm producer ARGS`, as a user types it; its stdout."""
        return self.compose("run", "--rm", "-T", "producer", *args, timeout_s=timeout_s)

    def start(self, workers: int) -> None:
        self.compose("build", "--quiet", "worker")
        self.scale(workers)

    def scale(self, workers: int) -> None:
        """Bring the cluster to `workers` healthy worker containers (`up --wait`)."""
        self.compose_project.up("--scale", f"worker={workers}", timeout_s=900)
        self.workers = workers

    def remove_workers(self) -> None:
        self.compose("rm", "--stop", "--force", "worker")
        self.workers = 0

    def stop(self) -> None:
        for problem in self.compose_project.down(grace_s=5, timeout_s=300):
            print(f"[compose] {problem}", file=sys.stderr)

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
        return sum(cgroup_cpu_ns(pid) for pid in self.compose_project.pids("worker"))

    def cpu_ns(self) -> dict[str, int]:
        """CPU used so far by each service's containers (cgroup accounting)."""
        return {service: sum(cgroup_cpu_ns(pid) for pid in self.compose_project.pids(service))
                for service in ("worker", "redis", "flower")}

    def app(self) -> Celery:
        return local.make_app(self.broker_url, self.result_backend)

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


def pids_cpu_ns(pids: list[int]) -> int:
    """CPU time of these processes and their children; a process gone meanwhile counts 0."""
    total = 0
    for pid in pids:
        for p in [pid, *children(pid)]:
            try:
                total += proc_cpu_ns(p)
            except (FileNotFoundError, ProcessLookupError):
                continue
    return total


def command_calls(url: str) -> dict[str, int]:
    """Redis commands run so far, by name (INFO commandstats; the INFO that asks counts too)."""
    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}


def parse_size(text: str) -> int:
    """Bytes in a size as docker prints it: 45.2MiB, 1.5GiB, 12.3MB."""
    number, unit = re.fullmatch(r"([\d.]+)\s*([kKMGT]?i?B)", text).groups()  # type: ignore[union-attr]
    scale = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "kB": 1e3, "KB": 1e3, "MB": 1e6,
             "GB": 1e9}[unit]
    return int(float(number) * scale)


class BenchLocalCluster:
    """The benchmark's wrapper around devcluster.local_cluster.LocalCluster (the launcher `local up` uses):
    a loopback redis-server (append-only, password), `celery worker` processes and Flower.

    The launcher starts and stops the processes; this adds what a benchmark needs of them: a
    folder of its own, started on `start` (no recovery service: the idle CPU is the workers'),
    scaled up and down, its CPU and memory read from /proc, the producer run against it.
    With `flower`, Flower runs from the start, as in compose; without, the benchmark starts it
    for the measures that compare with Flower (`start_flower`), beside guaranteed Celery's own.
    """

    name = "local"
    baseline = False

    def __init__(self, flower: bool = True) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="cpd-bench-"))
        self.cluster: local.LocalCluster | None = None
        self.flower = flower  # the price list starts Flower only for its row
        self.flower_on_demand = not flower

    @property
    def broker_url(self) -> str:
        return self.started().broker_url

    @property
    def result_backend(self) -> str:
        return self.started().result_backend

    @property
    def admin_url(self) -> str:
        host = self.started()
        return redis_url(HOST, host.port, 0, "admin", host.passwords["admin"])

    @property
    def workers(self) -> int:
        return len(self.cluster.workers) if self.cluster else 0

    def started(self) -> local.LocalCluster:
        """The running cluster (devcluster.local_cluster); RuntimeError before `start`."""
        if self.cluster is None:
            raise RuntimeError("the local cluster is not started")
        return self.cluster

    def producer(self, *args: str, timeout_s: float = 120) -> str:
        """`python -m producer ARGS` against this cluster, as a user types it; its stdout."""
        proc = subprocess.run([sys.executable, "-m", "producer", *args], env=self.started().env_of("producer"),
                              capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0:
            raise RuntimeError(f"producer {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
        return proc.stdout

    def start(self, workers: int) -> None:
        # idle CPU: workers only, no recovery service; Flower as in compose
        self.cluster = local.LocalCluster.start(self.tmp, 0, prefix="bench", flower=self.flower, recovery=False)
        self.scale(workers)

    def scale(self, workers: int) -> None:
        """Start or stop worker processes until `workers` run and answer ping."""
        cluster = self.started()
        if len(cluster.workers) > workers:
            cluster.remove_workers(len(cluster.workers) - workers)
        cluster.add_workers(workers - len(cluster.workers), prefix="bench", timeout_s=300)

    def remove_workers(self) -> None:
        self.scale(0)

    def start_flower(self) -> None:
        self.started().start_flower(timeout_s=120)

    def stop_flower(self) -> None:
        self.started().stop_flower()

    def stop(self) -> None:
        """Stop everything it started; a second call does nothing."""
        if self.cluster is not None:
            self.cluster.stop(grace_s=20)
            self.cluster = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def memory(self) -> dict[str, list[int]]:
        """PSS per worker (main process + pool) and of redis-server."""
        cluster = self.started()
        return {"worker": [sum(proc_pss_bytes(p) for p in [w.pid, *children(w.pid)]) for w in cluster.workers],
                "redis": [proc_pss_bytes(cluster.redis.pid)],
                "flower": [proc_pss_bytes(cluster.flower.pid)] if cluster.flower else []}

    def worker_cpu_ns(self) -> int:
        return pids_cpu_ns([w.pid for w in self.started().workers])

    def cpu_ns(self) -> dict[str, int]:
        """CPU used so far by the workers (with their pools), Redis and Flower."""
        cluster = self.started()
        return {"worker": self.worker_cpu_ns(), "redis": pids_cpu_ns([cluster.redis.pid]),
                "flower": pids_cpu_ns([cluster.flower.pid]) if cluster.flower else 0}

    def app(self) -> Celery:
        return local.make_app(self.broker_url, self.result_backend)

    @staticmethod
    def engine_cpu_ns() -> int:
        return 0


class BareCluster:
    """Bare Celery beside the local cluster: `celery -A benchmarks.bare_app worker`, Celery's defaults.

    Its workers use the local cluster's redis-server (a pair of databases of their own) and
    are started by the same launcher with the same node layout (one process each, queue
    `jobs`). With no `guarantees` (`bare`): no task events and every Celery setting at its
    default (prefetch 4, acknowledge before running, no task-sent events, results with
    Celery's defaults). With some (`benchmarks.bare_app.GUARANTEES`), only those settings
    change, on the workers and on the producer's app alike: `guaranteed()` is Celery with
    all of the project's guarantees and nothing else of the project.
    """

    baseline = True  # runs the load and idle parts only (benchmarks.__main__.measure)

    def __init__(self, beside: BenchLocalCluster, name: str = "bare", guarantees: tuple[str, ...] = (),
                 db: int = 2, flower_on_demand: bool = False) -> None:
        bare_app.settings(guarantees)  # an unknown name fails here, not in 32 workers
        self.beside = beside
        self.name = name
        self.guarantees = guarantees
        self.db = db  # broker db; results in db + 1
        self.processes: list[local.ManagedProcess] = []
        self.flower: local.ManagedProcess | None = None
        self.flower_on_demand = flower_on_demand  # its Flower started for the with-Flower figures (guaranteed)

    @classmethod
    def guaranteed(cls, beside: BenchLocalCluster) -> BareCluster:
        """Celery with the project's guarantees (prefetch 1, acks late, events, task-sent events), nothing else."""
        return cls(beside, "guaranteed", tuple(bare_app.GUARANTEES), db=4, flower_on_demand=True)

    def _url(self, db: int) -> str:
        # Bare Celery knows no roles: its default key layout, as the owner (admin).
        host = self.beside.started()
        return redis_url(HOST, host.port, db, "admin", host.passwords["admin"])

    @property
    def admin_url(self) -> str:
        return self._url(2)

    @property
    def broker_url(self) -> str:
        return self._url(self.db)

    @property
    def result_backend(self) -> str:
        return self._url(self.db + 1)

    @property
    def workers(self) -> int:
        return len(self.processes)

    def app(self) -> Celery:
        """A producer app with the same settings as the workers': Celery's defaults plus the guarantees."""
        return bare_app.make_app(self.broker_url, self.result_backend, self.guarantees)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "BROKER_URL": self.broker_url, "RESULT_BACKEND": self.result_backend,
                "BENCH_GUARANTEES": ",".join(self.guarantees)}

    def start_flower(self) -> None:
        """The same Flower as the local cluster's (devcluster's launcher, its settings), on these workers' events."""
        host = self.beside.started()
        password = write_private(host.log_dir / f"{self.name}-flower-password", roles.new_password())
        self.flower = local.start_flower("benchmarks.bare_app", free_port(), self._env(), password,
                                         host.log_dir / self.name, timeout_s=120)

    def stop_flower(self) -> None:
        if self.flower is not None:
            local.stop_processes([self.flower], grace_s=10)
        self.flower = None

    def start(self, workers: int) -> None:
        host = self.beside.started()
        env = self._env()
        self.processes = local.start_workers(workers, env, host.log_dir, prefix=self.name,
                                             app_module="benchmarks.bare_app",
                                             events="events" in self.guarantees)
        app = self.app()
        try:
            wait_for_workers(app, [w.name for w in self.processes], timeout_s=300)
        finally:
            app.close()

    def scale(self, workers: int) -> None:
        """Stop all workers and start `workers` new ones (the cold-start part does not run on baselines)."""
        self.stop()
        if workers:
            self.start(workers)

    def remove_workers(self) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_flower()
        local.stop_processes(self.processes, grace_s=20)
        self.processes = []

    def memory(self) -> dict[str, list[int]]:
        return {"worker": [sum(proc_pss_bytes(p) for p in [w.pid, *children(w.pid)]) for w in self.processes]}

    def worker_cpu_ns(self) -> int:
        return pids_cpu_ns([w.pid for w in self.processes])

    def cpu_ns(self) -> dict[str, int]:
        """CPU used so far by these workers, the shared Redis and their Flower (0 when it does not run)."""
        host = self.beside.started()
        return {"worker": self.worker_cpu_ns(), "redis": pids_cpu_ns([host.redis.pid]),
                "flower": pids_cpu_ns([self.flower.pid]) if self.flower else 0}

    @staticmethod
    def engine_cpu_ns() -> int:
        return 0
