"""The cluster as a user runs it: `docker compose up --scale worker=3`, the producer, Flower."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest

from tests.compose_cluster import compose_project
from tests.conftest import wait_for
from tests.helpers import ROOT, Background, run_producer

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster():
    """Three worker containers, healthy, Flower and the threads and gevent flavours included."""
    with compose_project(FLAVOURS="1") as compose:
        compose("up", "-d", "--build", "--wait", "--scale", "worker=3", timeout_s=600)
        yield compose


def test_six_jobs_run_on_three_worker_containers(cluster):
    run = cluster.producer("--jobs", "6", "--json")
    assert run.returncode == 0, run.stderr
    results, summary = run.document["results"], run.document["summary"]
    assert len(results) == 6 and all(r["status"] == "SUCCESS" for r in results)
    assert len({r["worker"] for r in results}) == 3
    assert len({r["hostname"] for r in results}) == 3  # three containers, not three processes of one
    assert summary["slots_online"] == 3 and summary["slots_used"] == 3
    assert summary["wall_s"] < 4.5  # one after another: 6 s; ideal: 2 s
    assert summary["verdict"].startswith("ran in parallel on 3 slots")
    assert summary["clock_offsets_s"] == {}  # containers share the host's clock


def test_six_jobs_draw_a_timeline_and_a_trace(cluster):
    run = cluster.producer("--jobs", "6", "--duration", "0.5", "--trace", "/tmp/run.json")
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.lstrip().startswith("worker@") and " pid " in line]
    assert len(rows) == 3 and all(row.count("task") == 2 for row in rows)  # 3 workers, 2 jobs each
    assert "trace written to /tmp/run.json" in run.stderr


def test_the_host_producer_finds_the_cluster_and_draws_a_plot(cluster, tmp_path):
    plot = tmp_path / "run.png"
    run = run_producer("--jobs", "8", "--duration", "0.5", "--plot", str(plot), env=cluster.host_env, timeout_s=120)
    assert run.returncode == 0, run.stderr
    assert plot.read_bytes()[:4] == b"\x89PNG" and f"plot written to {plot}" in run.stderr


def test_ctrl_c_leaves_nothing_queued_and_the_next_run_is_clean(cluster):
    import redis

    client = redis.Redis(port=int(cluster.env["REDIS_PORT"]), password=cluster.env["REDIS_PASSWORD"], socket_timeout=5)
    producer = Background("--jobs", "40", "--duration", "2", env=cluster.host_env)
    wait_for(lambda: client.llen("jobs") >= 30, 30, "the jobs to be queued")
    producer.proc.send_signal(signal.SIGINT)
    run = producer.finish(timeout_s=30)
    assert run.returncode == 130 and "withdrew" in run.stderr, run.stderr
    wait_for(lambda: client.llen("jobs") == 0, 5, "an empty queue")
    after = cluster.producer("--json")  # the default run: 2 jobs of 1 s
    assert after.returncode == 0, after.stderr
    assert after.document["summary"]["queued_ahead"] == 0 and after.document["summary"]["efficiency"] >= 0.9


def test_cpu_jobs_report_what_compare_measures_for_processes(cluster):
    run = cluster.producer("--jobs", "3", "--kind", "cpu", "--json", timeout_s=120)
    assert run.returncode == 0, run.stderr
    summary = run.document["summary"]
    assert summary["speedup"] <= summary["cpus"] * 1.05
    compare = cluster.producer("compare", "--jobs", "3", "--kind", "cpu", timeout_s=180)
    assert compare.returncode == 0, compare.stderr
    (row,) = [line.split() for line in compare.stdout.splitlines() if line.startswith("cpu") and "processes" in line]
    processes = float(row[5].rstrip("x"))  # kind how slots wall s speedup
    assert summary["speedup"] == pytest.approx(processes, rel=0.15)


def test_workers_log_the_course_pages_line(cluster):
    run = cluster.producer("--jobs", "2", "--duration", "0")
    assert run.returncode == 0, run.stderr
    logs = cluster("logs", "--no-color", "worker").stdout
    assert re.search(r"task[12] finished at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} \(worker@\w+ pid \d+\)", logs)


def test_compare_runs_on_every_flavour(cluster):
    run = cluster.producer("compare", "--jobs", "2", "--duration", "0.3", timeout_s=180)
    assert run.returncode == 0, run.stderr
    for how in ("one after another", "processes", "threads", "gevent"):
        assert run.stdout.count(f" {how} ") >= 2, how  # a sleep row and a cpu row each
    assert "skipped" not in run.stderr


def test_sweep_leaves_every_worker_consuming(cluster):
    run = cluster.producer("sweep", "--jobs", "3", "--duration", "0.2", timeout_s=180)
    assert run.returncode == 0, run.stderr
    assert "all 3 workers consume 'jobs' again" in run.stderr
    after = cluster.producer("--jobs", "3", "--duration", "0.5", "--json")
    assert len({r["worker"] for r in after.document["results"]}) == 3


def test_the_producer_run_leaves_the_cluster_alone(cluster):
    before = cluster("ps", "-q").stdout.split()
    run = cluster.producer("--jobs", "2", "--duration", "0")
    assert run.returncode == 0, run.stderr
    assert cluster("ps", "-q").stdout.split() == before  # nothing started, stopped or recreated
    assert len(cluster("ps", "--status", "running", "-q", "worker").stdout.split()) == 3
    flavours = cluster("ps", "--status", "running", "--services").stdout.split()
    assert {"worker-threads", "worker-gevent"} <= set(flavours)


def test_a_wrong_password_does_not_recreate_redis(cluster, tmp_path):
    redis_before = cluster("ps", "-q", "redis").stdout.strip()
    (tmp_path / "wrong").write_text("wrong")
    tmp_path.chmod(0o755)
    run = cluster("run", "--rm", "-T", "-e", "WORKER_WAIT=0", "producer", "--jobs", "1", check=False,
                  timeout_s=120, env={"REDIS_PASSWORD_FILE": str(tmp_path / "wrong")})
    assert run.returncode == 3, run.stderr
    assert "refused the password" in run.stderr and "REDIS_PASSWORD" in run.stderr and "wrong" not in run.stderr
    assert cluster("ps", "-q", "redis").stdout.strip() == redis_before  # the same container, untouched


def test_queue_from_the_environment_reaches_the_producer(cluster):
    run = cluster("run", "--rm", "-T", "-e", "WORKER_WAIT=0", "producer", "--jobs", "1", check=False,
                  timeout_s=120, env={"QUEUE": "elsewhere"})
    assert run.returncode == 4  # no worker consumes 'elsewhere': the producer did submit there
    assert "no worker consumes queue 'elsewhere'" in run.stderr


def test_flower_lists_every_worker_with_its_login(cluster):
    def all_five():
        status, workers = cluster.flower("/api/workers?refresh=1", cluster.flower_login)
        return status == 200 and workers and len(workers) == 5 and workers

    workers = wait_for(all_five, 30, "Flower to list 3 workers and 2 flavours", interval_s=1)
    assert sorted(name.split("@")[0] for name in workers) == ["gevent", "threads", "worker", "worker", "worker"]


def test_flower_tasks_show_the_jobs(cluster):
    run = cluster.producer("--jobs", "2", "--duration", "0.1", "--json")
    assert run.returncode == 0, run.stderr
    ids = {r["task_id"] for r in run.document["results"]}

    def seen():
        status, tasks = cluster.flower("/api/tasks", cluster.flower_login)
        return status == 200 and ids <= set(tasks or {})

    wait_for(seen, 20, "Flower to show both tasks", interval_s=0.5)


def test_flower_refuses_anyone_without_the_login(cluster):
    assert cluster.flower("/api/workers")[0] == 401
    assert cluster.flower("/")[0] == 401
    assert cluster.flower("/api/workers", ("tester", "wrong"))[0] == 401


def test_bad_producer_arguments_exit_2_inside_compose(cluster):
    run = cluster.producer("--jobs", "zero")
    assert run.returncode == 2
    assert "producer: error: Invalid value for '--jobs'" in run.stderr and "Traceback" not in run.stderr


def test_a_stopped_redis_is_reported_quickly_and_left_stopped(cluster):
    cluster("stop", "redis")
    try:
        started = time.monotonic()
        run = cluster("run", "--rm", "-T", "producer", "--jobs", "1", check=False, timeout_s=60)
        assert time.monotonic() - started < 30  # container start included; the producer itself gives up in ~3 s
        assert run.returncode == 3
        assert "cannot reach Redis at redis://:**@redis:6379/0" in run.stderr
        assert "Traceback" not in run.stderr and cluster.env["REDIS_PASSWORD"] not in run.stderr
        assert cluster("ps", "-q", "--status", "running", "redis").stdout.strip() == ""  # `run` did not start it
    finally:
        cluster("start", "redis")
        cluster("up", "-d", "--wait", "--scale", "worker=3", timeout_s=300)


# --- security: who can reach what ---------------------------------------------------------

def test_redis_wants_the_password(cluster):
    import redis

    port = int(cluster.env["REDIS_PORT"])
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, socket_timeout=5).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, password="guess", socket_timeout=5).ping()
    assert redis.Redis(port=port, password=cluster.env["REDIS_PASSWORD"], socket_timeout=5).ping()


def test_only_loopback_ports_are_published(cluster):
    assert cluster("port", "redis", "6379").stdout.strip() == f"127.0.0.1:{cluster.env['REDIS_PORT']}"
    assert cluster("port", "flower", "5555").stdout.strip() == f"127.0.0.1:{cluster.env['FLOWER_PORT']}"
    containers = cluster("ps", "-q").stdout.split()
    inspected = json.loads(subprocess.run(["docker", "inspect", *containers], capture_output=True, text=True,
                                          check=True, timeout=30).stdout)
    bindings = [b for c in inspected for port in (c["HostConfig"]["PortBindings"] or {}).values() for b in port or []]
    assert len(containers) == 8  # redis, flower, recovery, 3 workers, 2 flavours: only two publish a port
    assert len(bindings) == 2 and {b["HostIp"] for b in bindings} == {"127.0.0.1"}


@pytest.mark.parametrize("service", ["worker", "flower", "worker-threads", "worker-gevent"])
def test_app_containers_do_not_run_as_root_and_cannot_change_anything(cluster, service):
    assert cluster("exec", "-T", service, "id", "-u").stdout.strip() == "10001"
    status = cluster("exec", "-T", service, "cat", "/proc/1/status").stdout
    assert re.search(r"^CapEff:\s+0+$", status, re.M) and re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert cluster("exec", "-T", service, "touch", "/app/x", check=False).returncode != 0  # read-only image
    assert cluster("exec", "-T", service, "touch", "/tmp/x").returncode == 0  # but a tmpfs to write to


def test_no_password_in_docker_inspect_or_any_process_list(cluster):
    containers = cluster("ps", "-q").stdout.split()
    inspected = subprocess.run(["docker", "inspect", *containers], capture_output=True, text=True, check=True,
                               timeout=30).stdout
    for service in ("redis", "worker", "flower", "worker-threads", "worker-gevent"):
        cmdlines = cluster("exec", "-T", service, "sh", "-c", "cat /proc/[0-9]*/cmdline").stdout
        assert "celery" in cmdlines or "redis-server" in cmdlines  # it did read the processes
        for secret in (cluster.env["REDIS_PASSWORD"], cluster.env["FLOWER_PASSWORD"]):
            assert secret not in cmdlines, service
    for secret in (cluster.env["REDIS_PASSWORD"], cluster.env["FLOWER_PASSWORD"]):
        assert secret not in inspected


def test_the_image_holds_no_secret_and_no_stray_files(cluster):
    image = f"celery-parallelism-demo:{cluster.env['APP_TAG']}"
    facts = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, check=True,
                           timeout=30).stdout
    facts += subprocess.run(["docker", "history", "--no-trunc", image], capture_output=True, text=True, check=True,
                            timeout=30).stdout
    for secret in (cluster.env["REDIS_PASSWORD"], cluster.env["FLOWER_PASSWORD"], "celery-demo"):
        assert secret not in facts
    # .dockerignore keeps .env, .git, tests and the venv out of the build context
    assert sorted(cluster("exec", "-T", "worker", "ls", "-A", "/app").stdout.split()) == [
        "producer", "requirements.lock", "worker"]


def test_dot_env_is_ignored_by_git():
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0
