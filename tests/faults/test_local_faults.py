"""Faults injected for real into local workers and Redis: killed processes, a restarted
Redis, poisoned messages, bad input. Every job submitted must still produce a result."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kombu import Connection

from devcluster.redis_server import free_port
from tests.helpers import ROOT, Background, run_producer, wait_until_busy

pytestmark = pytest.mark.faults

#: Short, so a job held by a worker that lost Redis comes back within seconds in these tests.
FAST_REDELIVERY = {"VISIBILITY_TIMEOUT": "3"}


def test_a_killed_pool_process_requeues_its_job_at_once(start_workers, redis_env):
    workers = start_workers(1)
    producer = Background("--jobs", "2", "--duration", "3", "--json", env=redis_env)
    (killed_job,) = wait_until_busy(workers)[workers.names[0]]
    os.kill(workers.pool_pids(0)[0], signal.SIGKILL)
    run = producer.finish()
    assert run.returncode == 0, run.stderr
    results = {r["task_id"]: r for r in run.document["results"]}
    assert [r["status"] for r in results.values()] == ["SUCCESS", "SUCCESS"]
    assert results[killed_job]["redelivered"] is True  # the job the dead process held ran again
    assert run.document["summary"]["redelivered"] == 1


def test_a_killed_worker_loses_no_job(start_workers, redis_env, recovery_service):
    recovery_service()  # with the default visibility timeout (an hour), only the service brings the job back
    workers = start_workers(2)
    producer = Background("--jobs", "4", "--duration", "2.5", "--json", env=redis_env)
    busy = wait_until_busy(workers, 2)
    victim = workers.names[0]
    lost_job = busy[victim][0]
    os.killpg(workers.procs[0].pid, signal.SIGKILL)  # worker and its pool, as `docker kill` does
    run = producer.finish()
    assert run.returncode == 0, run.stderr
    results = {r["task_id"]: r for r in run.document["results"]}
    assert len(results) == 4 and all(r["status"] == "SUCCESS" for r in results.values())
    assert results[lost_job]["redelivered"] is True
    assert results[lost_job]["worker"] == workers.names[1]  # the survivor ran it
    assert run.document["summary"]["redelivered"] == 1


def test_sigterm_lets_the_running_job_finish(start_workers, redis_env):
    workers = start_workers(2)
    producer = Background("--jobs", "4", "--duration", "1.5", "--json", env=redis_env)
    busy = wait_until_busy(workers, 2)
    leaving = workers.names[0]
    workers.procs[0].send_signal(signal.SIGTERM)  # warm shutdown, as `docker compose stop` sends
    assert workers.procs[0].wait(20) == 0
    run = producer.finish()
    assert run.returncode == 0, run.stderr
    results = {r["task_id"]: r for r in run.document["results"]}
    assert len(results) == 4 and all(r["status"] == "SUCCESS" for r in results.values())
    finished_by_leaver = results[busy[leaving][0]]
    assert finished_by_leaver["worker"] == leaving and finished_by_leaver["redelivered"] is False
    assert run.document["summary"]["redelivered"] == 0


def test_queued_jobs_survive_a_redis_restart(persistent_redis, start_workers):
    workers = start_workers(1, env=FAST_REDELIVERY, redis=persistent_redis.env_of("worker"))
    producer = Background("--jobs", "6", "--duration", "0.5", "--json", env=persistent_redis.env)
    wait_until_busy(workers, queued=5)  # one job running, five waiting in the queue
    persistent_redis.stop()
    time.sleep(1)  # Redis stays down a moment: workers and producer see the connection drop
    persistent_redis.start()
    run = producer.finish()
    assert run.returncode == 0, run.stderr + workers.logs[0].read_text()
    results = run.document["results"]
    assert len(results) == 6 and all(r["status"] == "SUCCESS" for r in results)
    assert "Traceback" not in run.stderr


def test_a_pickle_message_is_refused_and_never_runs(start_workers, redis_env, tmp_path):
    workers = start_workers(1)
    marker = tmp_path / "pickle-payload-ran"
    proof = tmp_path / "payload-is-live"
    pickle.loads(pickle.dumps(TouchOnUnpickle(proof)))
    assert proof.exists()  # the payload really runs code when unpickled
    task_id = str(uuid.uuid4())
    with Connection(redis_env["BROKER_URL"]) as conn:
        conn.Producer().publish(
            ((TouchOnUnpickle(marker),), {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}),
            routing_key="jobs", serializer="pickle",
            headers={"lang": "py", "task": "task1", "id": task_id, "root_id": task_id, "parent_id": None,
                     "group": None, "retries": 0, "argsrepr": "", "kwargsrepr": ""},
        )
    # A good job sent after the poisoned one: once it is done, the worker has handled both.
    good = workers.app.send_task("task2", kwargs={"duration": 0}, queue="jobs")
    assert good.get(timeout=20)["task"] == "task2"
    assert not marker.exists()
    assert "ContentDisallowed" in workers.logs[0].read_text()
    assert workers.app.AsyncResult(task_id).state == "PENDING"  # never ran, never stored a result


class TouchOnUnpickle:
    """Unpickling this creates `path`: a stand-in for an attacker's code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--kwargs", '{"duration": "abc"}'], "duration must be a number of seconds, got 'abc'"),
        (["--kwargs", '{"duration": -1}'], "duration must be between 0 and 3600 seconds, got -1"),
        (["--args", "[1e309]"], "duration must be between 0 and 3600 seconds, got inf"),
        (["--kwargs", '{"duration": 0, "kind": "gpu"}'], "kind must be one of sleep, cpu, got 'gpu'"),
        (["--kwargs", '{"duration": 0, "fail": "sometimes"}'], "fail must be one of always, once, crash or null"),
        (["--kwargs", '{"duration": 0, "colour": "red"}'], "unexpected keyword argument 'colour'"),
        (["--args", "[0, \"sleep\", null, null, null, 5]"], "takes from 1 to 6 positional arguments but 7 were given"),
    ],
)
def test_celery_call_with_bad_arguments_fails_the_job_clearly(start_workers, redis_env, arguments, message):
    workers = start_workers(1)
    call = subprocess.run([sys.executable, "-m", "celery", "-A", "worker", "call", "task1", *arguments,
                           "--queue", "jobs"], cwd=ROOT, env={**os.environ, **redis_env},
                          capture_output=True, text=True, timeout=30)
    assert call.returncode == 0, call.stderr
    result = workers.app.AsyncResult(call.stdout.strip())
    with pytest.raises(Exception, match=message):
        result.get(timeout=20)
    assert result.state == "FAILURE"


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("redis://:pw@nosuchhost.invalid:6379/0", "cannot reach Redis at redis://:**@nosuchhost.invalid:6379/0"),
        ("redis://:pw@127.0.0.1:{closed}/0", "cannot reach Redis at redis://:**@127.0.0.1:"),
        ("http://127.0.0.1:6379/0", "producer: error: BROKER_URL: must be a redis:// or rediss:// URL"),
    ],
)
def test_a_bad_broker_url_is_one_line_and_quick(url, fragment):
    url = url.format(closed=free_port())
    started = time.monotonic()
    run = run_producer(env={"BROKER_URL": url, "RESULT_BACKEND": url}, timeout_s=30)
    assert time.monotonic() - started < 10
    assert run.returncode != 0
    assert fragment in run.stderr and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_jobs_running_when_redis_restarts_all_finish_with_the_recovery_service(persistent_redis, start_workers,
                                                                                recovery_service):
    # The default visibility timeout (an hour): the jobs the live workers cancel when Redis goes
    # away are left in kombu's unacked hash; only the recovery service can bring them back.
    service = recovery_service(env=persistent_redis.env_of("recovery"))
    workers = start_workers(4, redis=persistent_redis.env_of("worker"))
    producer = Background("--jobs", "16", "--duration", "1", "--timeout", "60", "--json", env=persistent_redis.env)
    wait_until_busy(workers, 4, queued=12)
    persistent_redis.stop()
    time.sleep(2)
    persistent_redis.start()
    run = producer.finish(90)
    logs = service.log.read_text() + "".join(log.read_text()[-3000:] for log in workers.logs)
    assert run.returncode == 0, run.stderr + logs
    results = run.document["results"]
    assert len(results) == 16 and all(r["status"] == "SUCCESS" for r in results), logs
    assert run.document["summary"]["duplicates"] == 0, logs
    # no worker died: the jobs ran again because their workers lost Redis and cancelled them
    summary = run.document["summary"]
    assert summary["cancelled"] >= 1 and summary["cancelled"] + summary["redelivered"] <= 16, logs
