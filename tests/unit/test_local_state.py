"""The local cluster's state: where it lives, its file's round trip, and when the config uses it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from devcluster.local_cluster import LocalCluster, ManagedProcess
from settings.local_state import local_urls, process_identity, read_state, state_dir, write_state


def test_state_dir_prefers_the_variable_then_the_runtime_folder_then_the_cache(tmp_path):
    runtime = tmp_path / "run"
    runtime.mkdir()
    assert state_dir({"LOCAL_CLUSTER_DIR": "/x/y", "XDG_RUNTIME_DIR": str(runtime)}) == Path("/x/y")
    assert state_dir({"XDG_RUNTIME_DIR": str(runtime)}) == runtime / "celery-parallelism"
    missing = {"XDG_RUNTIME_DIR": str(tmp_path / "gone"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert state_dir(missing) == tmp_path / "cache" / "celery-parallelism" / "local"
    assert state_dir({}) == Path.home() / ".cache" / "celery-parallelism" / "local"


def test_state_round_trip_is_private_to_the_user(tmp_path):
    path = write_state(tmp_path / "new", {"password": "s3cret", "port": 1234})
    assert read_state(tmp_path / "new") == {"password": "s3cret", "port": 1234}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds Redis' password
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no partial file left behind


def test_a_missing_or_broken_state_reads_as_none(tmp_path):
    assert read_state(tmp_path) is None
    (tmp_path / "state.json").write_text("{half")
    assert read_state(tmp_path) is None


def running_redis(tmp_path: Path, identity: str | None) -> dict[str, str]:
    """An environment whose state file says Redis runs as this very process (with `identity`)."""
    write_state(tmp_path, {"broker_url": "redis://:pw@127.0.0.1:7000/0", "result_backend": "redis://:pw@127.0.0.1:7000/1",
                           "redis": {"pid": os.getpid(), "identity": identity}})
    return {"LOCAL_CLUSTER_DIR": str(tmp_path)}


def test_the_config_uses_a_running_local_cluster_when_no_variable_names_a_redis(tmp_path):
    env = running_redis(tmp_path, process_identity(os.getpid()))
    assert local_urls(env) == ("redis://:pw@127.0.0.1:7000/0", "redis://:pw@127.0.0.1:7000/1")
    for variable in ("BROKER_URL", "RESULT_BACKEND", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"):
        assert local_urls({**env, variable: "set"}) is None, variable


def test_a_recorded_pid_now_used_by_another_process_is_not_the_cluster(tmp_path):
    assert process_identity(os.getpid()) is not None
    assert local_urls(running_redis(tmp_path, "some other start time")) is None
    assert local_urls({"LOCAL_CLUSTER_DIR": str(tmp_path / "nothing")}) is None


def test_the_cluster_survives_its_state_file(tmp_path):
    redis = ManagedProcess("redis-server", 11, "123", tmp_path / "redis" / "redis.log")
    workers = [ManagedProcess(f"local-{i}@host", 20 + i, str(400 + i), tmp_path / "logs" / f"local-{i}.log")
               for i in range(2)]
    cluster = LocalCluster(tmp_path, 6390, {"producer": "pw", "worker": "w"}, redis, workers, queue="q", concurrency=3,
                           pool="threads")
    cluster.save()
    loaded = LocalCluster.load(tmp_path)
    assert loaded == cluster
    assert loaded.broker_url == "redis://producer:pw@127.0.0.1:6390/0" and loaded.result_backend.endswith(":6390/1")
    assert loaded.env_of("worker")["REDIS_PASSWORD_FILE"] == str(tmp_path / "secrets" / "redis-worker")
    assert [p.name for p in loaded.processes()] == ["local-0@host", "local-1@host", "redis-server"]  # Redis last


def test_flower_stops_and_the_state_file_forgets_it(tmp_path):
    redis = ManagedProcess("redis-server", 11, "123", tmp_path / "redis" / "redis.log")
    flower = ManagedProcess.spawn("flower", ["sleep", "60"], {}, tmp_path / "logs" / "flower.log")  # stands in
    cluster = LocalCluster(tmp_path, 6390, {"producer": "pw"}, redis, flower=flower, flower_port=5555)
    cluster.save()
    cluster.stop_flower(grace_s=5)
    assert not flower.running() and cluster.flower is None and cluster.flower_url is None
    assert LocalCluster.load(tmp_path) == cluster
    cluster.stop_flower()  # a second time: nothing to stop
