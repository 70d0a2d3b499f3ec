"""The cluster as a user runs it: `docker compose up --scale worker=3`, the producer, Flower."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from cluster.errors import RET_USAGE
from settings import roles
from tests.compose_cluster import compose_project
from tests.helpers import ROOT, Background, run_producer, wait_for

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster():
    """Three worker containers, healthy, Flower and the threads and gevent flavours included."""
    with compose_project(FLAVOURS="1") as compose:
        compose("up", "-d", "--build", "--wait", "--scale", "worker=3", timeout_s=600)
        yield compose


def test_a_bad_worker_setting_stops_up_at_once_and_says_why():
    """WORKER_CONCURRENCY=abc: `up --wait` fails on the one-shot that parses the settings, its log
    says which and why, and no worker starts (before: workers restarting forever, "unhealthy")."""
    with compose_project(WORKER_CONCURRENCY="abc") as compose:
        compose("build", timeout_s=600)
        started = time.monotonic()
        up = compose("up", "-d", "--wait", check=False, timeout_s=300)
        assert up.returncode != 0 and "secrets" in up.stderr, up.stderr
        logs = compose("logs", "--no-color", "secrets").stdout
        assert "settings: error: WORKER_CONCURRENCY='abc': must be a whole number of at least 1" in logs, logs
        assert "Traceback" not in logs
        assert compose("ps", "-q", "--status", "running", "worker").stdout.strip() == ""
        assert time.monotonic() - started < 45  # not the workers' 60 s start period, waiting to be unhealthy


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
    name = f"run-{cluster.project}.json"  # the clone's ./out is every project's: a name of its own
    run = cluster.producer("--jobs", "6", "--duration", "0.5", "--trace", name)
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.lstrip().startswith("worker@") and " pid " in line]
    assert len(rows) == 3 and all(row.count("task") == 2 for row in rows)  # 3 workers, 2 jobs each
    # written in its working folder, the clone's ./out, where the message says it is, and the owner may remove it
    assert f"trace written to ./out/{name} on the host (/out/{name} in the container)" in run.stderr
    kept = ROOT / "out" / name
    assert json.loads(kept.read_text())["traceEvents"]
    kept.unlink()


def test_the_host_producer_finds_the_cluster_and_draws_a_plot(cluster, tmp_path):
    plot = tmp_path / "run.png"
    run = run_producer("--jobs", "8", "--duration", "0.5", "--plot", str(plot), env=cluster.host_env, timeout_s=120)
    assert run.returncode == 0, run.stderr
    assert plot.read_bytes()[:4] == b"\x89PNG" and f"plot written to {plot}" in run.stderr


def test_ctrl_c_leaves_nothing_queued_and_the_next_run_is_clean(cluster):
    client = cluster.redis()
    producer = Background("--jobs", "40", "--duration", "2", env=cluster.host_env)
    wait_for(lambda: client.llen("jobs") >= 30, 30, "the jobs to be queued")
    producer.proc.send_signal(signal.SIGINT)
    run = producer.finish(timeout_s=30)
    assert run.returncode == 130 and "withdrew" in run.stderr, run.stderr
    wait_for(lambda: client.llen("jobs") == 0, 5, "an empty queue")
    # the jobs the interrupted run's workers had started run to their end (2 s at most)
    wait_for(lambda: client.hlen("unacked") == 0, 10, "the running jobs to end")
    after = cluster.producer("--json")  # the default run: 2 jobs of 1 s
    assert after.returncode == 0, after.stderr
    assert after.document["summary"]["queued_ahead"] == 0 and after.document["summary"]["efficiency"] >= 0.9


@pytest.mark.alone  # cpu jobs on every core: another test's load would take their CPU
def test_cpu_jobs_report_what_compare_measures_for_processes(cluster):
    """A run's speedup agrees with compare's processes row, within 15 %, in one of three tries.

    The two are measured one after the other on a shared 2-core machine: anything else that
    takes a core for a second moves one of them, so a pair may disagree; three pairs in a row
    that all disagree mean the two measure different things.
    """
    pairs = []
    for _ in range(3):
        run = cluster.producer("--jobs", "3", "--kind", "cpu", "--json", timeout_s=120)
        assert run.returncode == 0, run.stderr
        summary = run.document["summary"]
        assert summary["speedup"] <= summary["cpus"] * 1.05  # never faster than the cores allow
        compare = cluster.producer("compare", "--jobs", "3", "--kind", "cpu", timeout_s=180)
        assert compare.returncode == 0, compare.stderr
        lines = compare.stdout.splitlines()
        (row,) = [line.split() for line in lines if line.startswith("cpu") and "processes" in line]
        processes = float(row[5].rstrip("x"))  # kind how slots wall s speedup
        pairs.append((summary["speedup"], processes))
        if summary["speedup"] == pytest.approx(processes, rel=0.15):
            return
    pytest.fail(f"run and compare disagree in every try (run speedup, compare's processes): {pairs}")


def test_in_the_container_version_and_a_wrong_plot_name_are_one_clear_line(cluster):
    """The image has no package metadata, no matplotlib and a read-only root: none may show through."""
    version = cluster.producer("--version")
    assert version.returncode == 0 and version.stdout.startswith("producer, version "), version.stdout + version.stderr
    plot = cluster.producer("--jobs", "2", "--plot", "run.txt")
    assert plot.returncode == RET_USAGE, plot.stderr
    # the image has no matplotlib (a lean image): said before any job runs, and where to draw it instead
    errors = [line for line in plot.stderr.splitlines() if line.strip() and not line.lstrip().startswith("Container ")]
    assert errors == ["producer: error: plots need matplotlib: not in this image: run the producer on the host for it, "
                      "in the clone: python3 -m venv .venv && .venv/bin/pip install -e '.[plot]', then "
                      ".venv/bin/producer --plot run.png"], plot.stderr
    assert "Read-only file system" not in plot.stderr and "Traceback" not in plot.stderr


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


def test_a_wrong_password_does_not_recreate_redis(cluster):
    redis_before = cluster("ps", "-q", "redis").stdout.strip()
    run = cluster("run", "--rm", "-T", "-e", "WORKER_WAIT=0", "-e", "REDIS_PASSWORD=wrong", "producer", "--jobs", "1",
                  check=False, timeout_s=120)
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
        assert "cannot reach Redis at redis://producer:**@redis:6379/0" in run.stderr
        assert "Traceback" not in run.stderr and cluster.password() not in run.stderr
        assert cluster("ps", "-q", "--status", "running", "redis").stdout.strip() == ""  # `run` did not start it
    finally:
        cluster("start", "redis")
        cluster("up", "-d", "--wait", "--scale", "worker=3", timeout_s=300)


# --- security: who can reach what (SECURITY.md names these tests) --------------------------

def test_default_cannot_log_in_and_each_role_can(cluster):
    import redis

    port = int(cluster.env["REDIS_PORT"])
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, socket_timeout=5).ping()  # no login: `default` is disabled
    for password in ("guess", "", cluster.password("admin")):
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, username="default", password=password, socket_timeout=5).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, username="worker", password=cluster.password("producer"), socket_timeout=5).ping()
    assert all(cluster.redis(role).ping() for role in roles.ROLES)


def test_the_worker_user_cannot_flush_configure_or_debug(cluster):
    import redis

    worker = cluster.redis("worker")
    for command in (("FLUSHALL",), ("CONFIG", "SET", "appendonly", "no"), ("CONFIG", "GET", "*"),
                    ("DEBUG", "SLEEP", "0"), ("ACL", "LIST"), ("KEYS", "*"), ("CLIENT", "KILL", "TYPE", "normal"),
                    ("SHUTDOWN",)):
        with pytest.raises(redis.ResponseError, match="no permissions|not allowed"):  # DEBUG: off for everyone
            worker.execute_command(*command)
    with pytest.raises(redis.exceptions.NoPermissionError):
        worker.set("not-a-queue", "x")  # keys outside the queues and Celery's own


def test_flowers_user_cannot_push_take_or_delete_a_job(cluster):
    import redis

    flower = cluster.redis("flower")
    assert flower.llen("jobs") == 0  # what its Broker page reads
    for write in (lambda: flower.lpush("jobs", "{}"), lambda: flower.rpop("jobs"), lambda: flower.delete("jobs"),
                  lambda: flower.brpop(["jobs"], timeout=1), lambda: flower.lpush("jobs-threads", "{}")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            write()


def test_the_producers_user_cannot_kill_clients_or_flush(cluster):
    import redis

    producer = cluster.redis("producer")
    for command in (("CLIENT", "KILL", "TYPE", "normal"), ("CLIENT", "LIST"), ("FLUSHALL",), ("CONFIG", "GET", "*")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            producer.execute_command(*command)
    assert cluster.redis("recovery").client_list()  # fencing a vanished worker is the recovery service's alone


ROLE_OF = {"worker": "worker", "worker-threads": "worker", "worker-gevent": "worker", "flower": "flower",
           "recovery": "recovery"}


@pytest.mark.parametrize("service", sorted(ROLE_OF))
def test_each_part_reads_its_own_secret_and_no_other(cluster, service):
    own = ROLE_OF[service]
    assert cluster("exec", "-T", service, "cat", f"/run/secrets/{own}/redis_password").stdout == cluster.password(own)
    for other in {"worker", "flower", "producer", "recovery"} - {own}:
        read = cluster("exec", "-T", service, "cat", f"/run/secrets/{other}/redis_password", check=False)
        assert read.returncode != 0 and "Permission denied" in read.stderr, (service, other)
    modes = cluster("exec", "-T", service, "stat", "-c", "%a %U %n", f"/run/secrets/{own}",
                    f"/run/secrets/{own}/redis_password").stdout.splitlines()
    user = {"worker": "app"}.get(own, own)
    assert modes == [f"500 {user} /run/secrets/{own}", f"400 {user} /run/secrets/{own}/redis_password"]


def test_the_owners_secrets_are_readable_by_the_owner_alone(cluster):
    folder = Path(cluster.env["SECRETS_DIR"])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and folder.stat().st_uid == ROOT.stat().st_uid
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted([*(roles.secret_name(r) for r in roles.ROLES), roles.FLOWER, roles.ACL_FILE])
    assert all(stat.S_IMODE((folder / f).stat().st_mode) == 0o600 for f in files)
    assert len(set(cluster.passwords())) == len(roles.ROLES) + 1  # each its own


def test_the_host_producer_status_prints_flowers_login(cluster):
    run = run_producer("status", env=cluster.host_env, timeout_s=60)
    assert run.returncode == 0, run.stderr
    port, user = cluster.env["FLOWER_PORT"], cluster.env["FLOWER_USER"]
    assert f"Flower: http://127.0.0.1:{port} login {user} / {cluster.secret(roles.FLOWER)}" in run.stdout


def test_only_loopback_ports_are_published(cluster):
    assert cluster("port", "redis", "6379").stdout.strip() == f"127.0.0.1:{cluster.env['REDIS_PORT']}"
    assert cluster("port", "flower", "5555").stdout.strip() == f"127.0.0.1:{cluster.env['FLOWER_PORT']}"
    containers = cluster("ps", "-q").stdout.split()
    inspected = json.loads(subprocess.run(["docker", "inspect", *containers], capture_output=True, text=True,
                                          check=True, timeout=30).stdout)
    bindings = [b for c in inspected for port in (c["HostConfig"]["PortBindings"] or {}).values() for b in port or []]
    assert len(containers) == 8  # redis, flower, recovery, 3 workers, 2 flavours: only two publish a port
    assert len(bindings) == 2 and {b["HostIp"] for b in bindings} == {"127.0.0.1"}


UIDS = {"worker": "10001", "worker-threads": "10001", "worker-gevent": "10001", "flower": "10002",
        "recovery": "10004"}


@pytest.mark.parametrize("service", sorted(UIDS))
def test_app_containers_do_not_run_as_root_and_cannot_change_anything(cluster, service):
    assert cluster("exec", "-T", service, "id", "-u").stdout.strip() == UIDS[service]
    status = cluster("exec", "-T", service, "cat", "/proc/1/status").stdout
    assert re.search(r"^CapEff:\s+0+$", status, re.M) and re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert cluster("exec", "-T", service, "touch", "/app/x", check=False).returncode != 0  # read-only image
    assert cluster("exec", "-T", service, "touch", "/tmp/x").returncode == 0  # but a tmpfs to write to


def test_no_password_in_docker_inspect_ps_or_any_process_environment(cluster):
    containers = cluster("ps", "-aq").stdout.split()  # the one-shot `secrets` service too
    inspected = subprocess.run(["docker", "inspect", *containers], capture_output=True, text=True, check=True,
                               timeout=30).stdout
    host_ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True, timeout=30).stdout
    passwords = cluster.passwords()
    for service in ("redis", "worker", "flower", "worker-threads", "worker-gevent", "recovery"):
        # a process may end between the glob and its `cat` (a health check's `stat`): not an error
        seen = cluster("exec", "-T", service, "sh", "-c",
                       "cat /proc/[0-9]*/cmdline 2>/dev/null; cat /proc/[0-9]*/environ 2>/dev/null; true").stdout
        assert any(name in seen for name in ("celery", "redis-server", "-m\x00recovery\x00"))  # it read the processes
        assert "PATH=" in seen  # and their environments
        for secret in passwords:
            assert secret not in seen, service
    for secret in passwords:
        assert secret not in inspected and secret not in host_ps


def test_the_image_holds_no_secret_and_no_stray_files(cluster):
    image = cluster.env["APP_IMAGE"]
    facts = subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, check=True,
                           timeout=30).stdout
    facts += subprocess.run(["docker", "history", "--no-trunc", image], capture_output=True, text=True, check=True,
                            timeout=30).stdout
    for secret in cluster.passwords():
        assert secret not in facts
    # .dockerignore keeps .env, .git, secrets.local, tests and the venv out of the build context
    assert sorted(cluster("exec", "-T", "worker", "ls", "-A", "/app").stdout.split()) == [
        "cluster", "devcluster", "producer", "recovery", "requirements.lock", "settings", "worker"]


def test_two_fresh_clones_get_passwords_of_their_own(cluster, tmp_path):
    made = []
    for name in ("a", "b"):
        clone = tmp_path / name
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=60)
        assert not (clone / "secrets.local").exists() and not (clone / "secrets").exists()  # nothing committed
        project = f"{cluster.project}-clone-{name}"
        env = {**os.environ, "APP_IMAGE": cluster.env["APP_IMAGE"]}  # this clone's code: no build of its own
        try:
            run = subprocess.run(["docker", "compose", "-p", project, "run", "--rm", "secrets"], cwd=clone, env=env,
                                 capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, run.stderr
        finally:
            subprocess.run(["docker", "compose", "-p", project, "down", "-v"], cwd=clone, env=env,
                           capture_output=True, timeout=120)
        made.append({p.name: p.read_text() for p in (clone / "secrets.local").iterdir() if p.name != roles.ACL_FILE})
    assert made[0].keys() == made[1].keys() and len(made[0]) == len(roles.ROLES) + 1
    assert not set(made[0].values()) & set(made[1].values())


def test_each_clone_is_its_own_project_and_its_image_is_built_with_no_registry_asked(cluster, tmp_path):
    own = {k: v for k, v in os.environ.items() if k not in ("COMPOSE_PROJECT_NAME", "APP_IMAGE", "APP_TAG")}
    names, images = set(), set()
    for name in ("a", "b"):  # two clones, in folders of their own: two projects, neither takes the other's
        clone = tmp_path / "clones" / name / "celery-demo" if name == "a" else tmp_path / "clones" / name
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=60)
        config = subprocess.run(["docker", "compose", "config", "--format", "json"], cwd=clone, capture_output=True,
                                text=True, timeout=60, env=own)
        assert config.returncode == 0, config.stderr
        document = json.loads(config.stdout)
        names.add(document["name"])
        images |= {service["image"] for service in document["services"].values() if "build" in service}
    assert names == {"celery-demo", "b"}
    # each its own image (the worker, Flower, the producer and the secrets share it): neither runs the other's code
    assert images == {"celery-parallelism-demo-celery-demo:latest", "celery-parallelism-demo-b:latest"}
    # An image not built yet is built at once: no pull tried, no registry error printed. The producer
    # run in a project never started starts nothing and says to start it, in one line.
    project = f"{cluster.project}-fresh"
    image = f"celery-parallelism-demo-{project}:latest"
    try:
        run = subprocess.run(["docker", "compose", "-p", project, "run", "--rm", "-T", "producer", "--jobs", "1"],
                             cwd=clone, env=own, capture_output=True, text=True, timeout=600)
        assert "Pulling" not in run.stderr and "registry" not in run.stderr and "pull access" not in run.stderr, \
            run.stderr
        assert image in run.stderr  # built, as Compose says
        said = run.stderr.strip().splitlines()[-1]
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert said.startswith("producer: error: REDIS_PASSWORD_FILE=/run/secrets/producer/redis_password") \
            and said.endswith("the cluster's first `docker compose up -d --wait` makes it"), said
        ran = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                             capture_output=True, text=True, timeout=60).stdout.split()
        assert ran == [], ran  # no Redis, no secrets one-shot: `run` started nothing else
    finally:
        subprocess.run(["docker", "compose", "-p", project, "down", "-v"], cwd=clone, env=own, capture_output=True,
                       timeout=120)
        subprocess.run(["docker", "image", "rm", image], capture_output=True, timeout=60)


def test_dot_env_and_the_owners_secrets_are_ignored_by_git():
    for path in (".env", "secrets.local/redis-producer", "out/run.json"):  # out: the producer's files
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0, path


def test_rotating_the_passwords_is_one_command_and_the_cluster_carries_on(cluster):
    """Last: every password of the module's cluster changes (the tests above read them afresh)."""
    before, old_admin = cluster.passwords(), cluster.password("admin")
    rotate = cluster("run", "--rm", "-T", "secrets", "rotate", timeout_s=120)
    assert "new passwords" in rotate.stdout
    cluster("up", "-d", "--wait", "--force-recreate", "--scale", "worker=3", timeout_s=600)
    after = cluster.passwords()
    assert not set(before) & set(after)
    import redis

    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=int(cluster.env["REDIS_PORT"]), username="admin", password=old_admin).ping()
    run = run_producer("--jobs", "3", "--duration", "0.2", "--json", env=cluster.host_env, timeout_s=120)
    assert run.returncode == 0, run.stderr
    assert cluster.flower("/api/workers", cluster.flower_login)[0] == 200
