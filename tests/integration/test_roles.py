"""The roles for real, on the local cluster's Redis: each part refused what it must not do, and
`local up` keeps every password in files of the user's alone, none in any process environment."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from devcluster.local_cluster import LocalCluster
from devcluster.redis_server import RedisProcess
from settings import roles
from tests.helpers import refusals

pytestmark = pytest.mark.integration


def test_default_cannot_log_in(redis_server, redis_env):
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=redis_server.port, socket_timeout=5).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=redis_server.port, username="default", password=redis_server.passwords["admin"]).ping()
    assert {e["reason"] for e in refusals(redis_server)} == {"auth"}  # the failed login is logged


def test_the_worker_user_cannot_flush_configure_or_read_keys_not_its_own(redis_server, redis_env):
    worker = redis_server.client(role="worker")
    for command in (("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("CONFIG", "SET", "save", ""),
                    ("DEBUG", "SLEEP", "0"), ("ACL", "WHOAMI"), ("KEYS", "*"), ("CLIENT", "KILL", "TYPE", "normal")):
        with pytest.raises(redis.ResponseError, match="no permissions|not allowed"):  # DEBUG: off for everyone
            worker.execute_command(*command)
    with pytest.raises(redis.exceptions.NoPermissionError):
        worker.get("somebody-elses")
    assert {e["username"] for e in refusals(redis_server)} == {"worker"}  # each refusal logged, then forgotten


def test_flowers_user_reads_the_queue_and_cannot_push_take_or_delete_a_job(redis_server, redis_env):
    flower = redis_server.client(role="flower")
    assert flower.llen("jobs") == 0
    for write in (lambda: flower.lpush("jobs", "{}"), lambda: flower.rpop("jobs"), lambda: flower.delete("jobs"),
                  lambda: flower.set("celery-task-meta-x", "{}")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            write()
    refusals(redis_server)


def test_the_producers_user_cannot_kill_clients_and_the_recovery_service_can_list_them(redis_server, redis_env):
    producer = redis_server.client(role="producer")
    for command in (("CLIENT", "KILL", "TYPE", "normal"), ("CLIENT", "LIST"), ("FLUSHALL",)):
        with pytest.raises(redis.exceptions.NoPermissionError):
            producer.execute_command(*command)
    producer.lpush("jobs", "{}")  # its job: submitting
    assert redis_server.client(role="recovery").client_list()
    refusals(redis_server)


# KEDA's redis scaler (pkg/scalers/redis_scaler.go) counts a key with this one script.
KEDA_SCRIPT = """
local listName = KEYS[1]
local listType = redis.call('type', listName).ok
local cmd = {zset = 'zcard', set = 'scard', list = 'llen', hash = 'hlen', none = 'llen'}
return redis.call(cmd[listType], listName)
"""


def test_kedas_user_counts_the_queue_and_the_held_jobs_and_nothing_else(redis_server, redis_env):
    admin = redis_server.client(role="admin")
    admin.rpush("jobs", "a", "b")
    admin.hset("unacked", "t1", "x")
    admin.set("celery-task-meta-x", "{}")
    keda = redis_server.client(role="keda")
    assert keda.eval(KEDA_SCRIPT, 1, "jobs") == 2 and keda.eval(KEDA_SCRIPT, 1, "unacked") == 1
    for other in (lambda: keda.eval(KEDA_SCRIPT, 1, "celery-task-meta-x"), lambda: keda.lpush("jobs", "x"),
                  lambda: keda.rpop("jobs"), lambda: keda.keys("*"), lambda: keda.get("celery-task-meta-x")):
        with pytest.raises(redis.exceptions.ResponseError, match="no permissions|No permissions"):
            other()
    assert admin.llen("jobs") == 2
    assert {e["username"] for e in refusals(redis_server)} == {"keda"}
    admin.delete("jobs", "unacked", "celery-task-meta-x")


def test_local_up_keeps_passwords_in_files_of_the_users_alone(tmp_path, redis_server):
    cluster = LocalCluster.start(tmp_path / "cluster", 1, flower=True, recovery=True, timeout_s=60)
    try:
        folder = cluster.secrets_dir
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        files = sorted(folder.iterdir())
        assert [f.name for f in files] == sorted([*(roles.secret_name(r) for r in roles.ROLES), roles.FLOWER])
        assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
        passwords = [f.read_text() for f in files]
        for process in cluster.processes():
            environ = Path(f"/proc/{process.pid}/environ").read_bytes().decode(errors="replace")
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(errors="replace")
            assert not [p for p in passwords if p in environ or p in cmdline], process.name
        request = urllib.request.Request(f"{cluster.flower_url}/api/workers")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        login = base64.b64encode(f"admin:{cluster.flower_password}".encode()).decode()
        request.add_header("Authorization", f"Basic {login}")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        assert cluster.flower_password not in cluster.passwords.values()  # Flower's login is no Redis password
    finally:
        cluster.stop(grace_s=10)
    assert not cluster.secrets_dir.exists() and os.path.exists(cluster.log_dir)


def test_transactions_survive_a_redis_restart_with_default_off(tmp_path, redis_server):
    """Redis 7.0 replays the append-only file's MULTI/EXEC as `default`: disabled, it must still be allowed them."""
    server = RedisProcess(tmp_path / "redis", appendonly=True)
    server.start()
    try:
        worker = server.client(role="worker")
        pipe = worker.pipeline(transaction=True)  # as kombu stores a delivered job, and a result
        pipe.rpush("jobs", "{}").hset("unacked", "tag", "{}").execute()
        worker.close()
        server.stop()
        server.start()
        admin = server.client()
        assert admin.llen("jobs") == 1 and admin.hget("unacked", "tag") == b"{}"
        assert admin.acl_log() == []
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=server.port, socket_timeout=5).llen("jobs")  # still nobody gets in as default
    finally:
        server.stop()



@pytest.mark.parametrize("setting", ["WORKER_CONCURRENCY=abc", "VISIBILITY_TIMEOUT=0", "RECOVERY_SILENCE=soon"])
def test_the_secrets_one_shot_stops_on_a_bad_worker_setting_before_any_worker_starts(tmp_path, setting):
    name, value = setting.split("=")
    args = [sys.executable, "-m", "settings.roles", "install", "--owner-dir", str(tmp_path / "owner"),
            "--owner-of", str(tmp_path), "--target", str(tmp_path / "target")]
    env = {k: v for k, v in os.environ.items() if k not in ("WORKER_CONCURRENCY", "VISIBILITY_TIMEOUT",
                                                             "RECOVERY_SILENCE")}
    bad = subprocess.run(args, env={**env, name: value}, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1, bad.stderr
    assert bad.stderr.startswith(f"settings: error: {name}={value!r}") and len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "owner").exists() and not (tmp_path / "target").exists()  # nothing made
    good = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0 and "settings" not in good.stderr, good.stderr
    assert (tmp_path / "owner" / "redis-worker").exists()
