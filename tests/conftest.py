"""The fixtures: a real redis-server on a free loopback port, real `celery -A worker worker` processes.

Both are started by devcluster.local_cluster and devcluster.redis_server, the code behind
`python -m producer local up`, so the tests run what users run. Each fixture owns what it
starts and stops it by its own pid, so a test never touches a Redis or a cluster the user
has running.

scripts/test runs the suite in several processes (pytest-xdist, a file in one process, so a
module's compose project is made once): the tests mostly wait (jobs sleep, workers start, Redis
restarts), so they share the machine. Tests marked `alone` measure
CPU-bound parallelism and get the machine to themselves (`machine_share`).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from celery import Celery

from cluster.errors import RedisServerMissing
from cluster.workers import wait_for_workers
from devcluster.local_cluster import ManagedProcess, start_recovery, stop_processes
from devcluster.local_cluster import start_workers as spawn_workers
from devcluster.redis_server import RedisProcess, find_redis_server
from settings.local_state import DIR_VARIABLE
from tests.helpers import refusals, skip_unless_required
from tests.scheduling import SHARE, current_process, longest_first, on_timeline, sharing_the_machine

#: Each file's own seconds in a recent run: `python -m tests.run_timeline FILE --durations tests/durations.json`.
DURATIONS = Path(__file__).with_name("durations.json")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first (tests/durations.json; a file not in it counts as short).

    scripts/test hands the files to its processes in this order (`--no-loadscope-reorder`;
    xdist's own order is by the number of tests, which put a one-test file of minutes last),
    so no long file starts near the end, and the short ones fill the gaps there.
    """
    items[:] = longest_first(items, json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {})


@pytest.fixture(autouse=True)
def machine_share(request: pytest.FixtureRequest, machine_share_folder: None) -> Iterator[None]:
    """Under xdist, a test marked `alone` waits until no other test runs and keeps the others out
    until it is done (its setup, call and teardown); the rest share the machine.

    Serial runs (no xdist) take no lock.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    alone = request.node.get_closest_marker("alone") is not None
    with sharing_the_machine(SHARE["folder"], alone):
        yield


@pytest.fixture(scope="session", autouse=True)
def machine_share_folder(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Under xdist, the run's folder (above each process's) holds the machine share's locks:
    the tests' (`machine_share`) and those of compose commands outside any test
    (tests.scheduling.shared_outside_tests)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        SHARE["folder"] = tmp_path_factory.getbasetemp().parent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    """TEST_TIMELINE=FILE: one JSON line per test (its process, start and end, setup and teardown
    included) to find the suite's critical path: `python -m tests.run_timeline FILE`."""
    with on_timeline(test=item.nodeid, process=current_process(),
                     marks=sorted({mark.name for mark in item.iter_markers()})):
        return (yield)


@pytest.fixture(scope="session", autouse=True)
def private_local_cluster_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """LOCAL_CLUSTER_DIR in a fresh folder for the session: no test finds, or stops, a user's `local up`."""
    previous = os.environ.get(DIR_VARIABLE)
    os.environ[DIR_VARIABLE] = str(tmp_path_factory.mktemp("local-cluster"))
    yield Path(os.environ[DIR_VARIABLE])
    if previous is None:
        os.environ.pop(DIR_VARIABLE, None)
    else:
        os.environ[DIR_VARIABLE] = previous


def redis_binary() -> str:
    """The redis-server a local cluster would use; skips (or fails under REQUIRE_ALL=1) without one."""
    try:
        return find_redis_server()
    except RedisServerMissing:
        skip_unless_required("redis-server is not installed (scripts/test installs it)")
        raise


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A real redis-server on 127.0.0.1 with the cluster's users (settings/roles.py), no persistence."""
    server = RedisProcess(tmp_path_factory.mktemp("redis"), appendonly=False, binary=redis_binary())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_env(redis_server: RedisProcess) -> Iterator[dict[str, str]]:
    """The producer's environment for a test that starts clean: both databases emptied.

    Each part logs in as its own role; a command Redis refused any of them during the test
    fails it (the roles in settings/roles.py must grant what the parts really send).
    """
    server = redis_server.client()
    server.flushall()
    server.acl_log_reset()
    server.close()
    yield redis_server.env
    refused = [f"{e['username']}: {e['reason']} {e['object']} ({e['context']})" for e in refusals(redis_server)]
    assert not refused, f"Redis refused a role what it sent (add it to settings/roles.py?): {sorted(set(refused))}"


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
def start_workers(redis_server: RedisProcess, redis_env: dict[str, str],
                  tmp_path: Path) -> Iterator[Callable[..., Workers]]:
    """Start N real `celery -A worker worker` processes; waits until each answers ping.

    They use the session's Redis as its `worker` user unless `redis` (BROKER_URL, RESULT_BACKEND)
    names another; the test talks to them as the producer.
    Stops them all with SIGTERM (warm shutdown), then SIGKILL to the process group of any
    that hang, and of pool processes a test orphaned by killing their parent.
    """
    started: list[ManagedProcess] = []
    apps: list[Celery] = []

    def start(count: int, concurrency: int = 1, queue: str = "jobs", pool: str = "prefork",
              env: dict[str, str] | None = None, redis: dict[str, str] | None = None,
              nodes: list[str] | None = None) -> Workers:
        asking = redis or redis_env
        app = Celery(broker=asking["BROKER_URL"], backend=asking["RESULT_BACKEND"])
        apps.append(app)
        urls = redis or redis_server.env_of("worker")
        new = spawn_workers(count, {**os.environ, **urls, **(env or {})}, tmp_path, concurrency=concurrency,
                            queue=queue, pool=pool, prefix="it", nodes=nodes)
        started.extend(new)
        workers = Workers(app, [w.proc for w in new], [w.name for w in new], [w.log for w in new])
        wait_for_workers(app, workers.names, 30)
        return workers

    yield start
    stop_processes(started, grace_s=15)
    for app in apps:
        app.close()


@pytest.fixture
def recovery_service(redis_server: RedisProcess, redis_env: dict[str, str],
                     tmp_path: Path) -> Iterator[Callable[..., ManagedProcess]]:
    """Start the recovery service (`python -m recovery`) on the test's Redis; call it again
    after killing it to restart it. Stops every one it started (SIGTERM, then SIGKILL)."""
    started: list[ManagedProcess] = []

    def start(env: dict[str, str] | None = None) -> ManagedProcess:
        service = start_recovery({**os.environ, **redis_server.env_of("recovery"), **(env or {})}, tmp_path)
        started.append(service)
        return service

    yield start
    stop_processes(started, grace_s=10)


@pytest.fixture
def persistent_redis(tmp_path, redis_server):  # redis_server: skips without redis-server
    """A redis-server with append-only persistence that a test may restart on the same port."""
    server = RedisProcess(tmp_path / "redis", appendonly=True)
    server.start()
    yield server
    server.stop()  # SIGTERM: Redis flushes the append-only file and exits
