"""Faults that are not deaths, on local workers and a real Redis: junk pushed onto the queue, and
Redis restarted under a running job. Junk is set aside, not obeyed; a job whose worker lost
Redis is run again without counting as one that killed its worker."""

from __future__ import annotations

import json
import os
import time

import pytest
import redis

from tests.helpers import Background, run_producer, wait_for, wait_until_busy
from worker import runs
from worker.transport import dead_letter_key

pytestmark = pytest.mark.faults


def test_junk_on_the_queue_is_set_aside_and_the_worker_goes_on(start_workers, redis_env):
    workers = start_workers(1)
    pid = workers.procs[0].pid
    client = redis.Redis.from_url(redis_env["BROKER_URL"])
    junk = [os.urandom(64) for _ in range(20)] + [b"{}", b"[1, 2]", b'"text"', json.dumps(
        {"body": "e30=", "properties": {"delivery_tag": "x", "delivery_info": {}}, "headers": {}}).encode()]
    client.lpush("jobs", *junk)
    wait_for(lambda: client.llen(dead_letter_key("jobs")) == len(junk), 30, "the junk to be set aside")
    run = run_producer("--jobs", "2", "--duration", "0.2", "--json", env=redis_env)
    assert run.returncode == 0, run.stderr
    assert [r["status"] for r in run.document["results"]] == ["SUCCESS", "SUCCESS"]
    assert workers.procs[0].poll() is None and workers.procs[0].pid == pid  # the same worker, never restarted
    assert sorted(client.lrange(dead_letter_key("jobs"), 0, -1)) == sorted(junk)  # kept as it came, for a look
    log = workers.logs[0].read_text()
    assert log.count("that is not a job") == len(junk) and "Unrecoverable error" not in log
    status = run_producer("status", env=redis_env)
    assert status.returncode == 0, status.stderr
    assert f"queue jobs: 0 waiting, {len(junk)} set aside as not a job (jobs.dead)" in status.stdout


def test_a_job_whose_worker_lost_redis_three_times_is_not_failed_as_a_poison_job(persistent_redis, start_workers,
                                                                                recovery_service):
    service = recovery_service(env=persistent_redis.env_of("recovery"))
    workers = start_workers(2, redis=persistent_redis.env_of("worker"))
    producer = Background("--jobs", "1", "--duration", "6", "--timeout", "120", "--json", env=persistent_redis.env)
    client = persistent_redis.client(db=1)

    def started_runs() -> int:
        keys = client.keys(f"{runs.PREFIX}*")
        return len(runs.parse(client.lrange(keys[0], 0, -1))) if keys else 0

    for restart in range(3):  # each time the job runs, Redis goes away under it
        wait_for(lambda n=restart: started_runs() > n, 60, f"run {restart + 1} of the job to start", 0.2)
        persistent_redis.stop()
        time.sleep(1)
        persistent_redis.start()
    run = producer.finish(150)
    logs = service.log.read_text() + "".join(log.read_text()[-3000:] for log in workers.logs)
    assert run.returncode == 0, run.stderr + logs
    (result,) = run.document["results"]
    assert result["status"] == "SUCCESS", logs
    keys = client.keys(f"{runs.PREFIX}*")
    seen = runs.parse(client.lrange(keys[0], 0, -1))
    assert len(seen) == 4 and seen[-1].finished_at is not None, seen
    # cancelled as Celery lost Redis, or put back as kombu closed the lost connection's channel
    assert all(r.interrupted in (runs.CANCELLED, runs.PUT_BACK) for r in seen[:3]), [r.interrupted for r in seen]
    assert runs.never_finished(seen, 1) == []  # no deaths counted
    assert run.document["summary"]["duplicates"] == 0


def test_jobs_a_worker_had_reserved_when_it_lost_redis_are_no_deaths_of_it(persistent_redis, start_workers,
                                                                          recovery_service):
    # Celery drops the jobs it reserved and had not started when its connection is lost; the
    # recovery service's sweep puts them back. Their runs, recorded by the claim, are no deaths.
    recovery_service(env=persistent_redis.env_of("recovery"))
    workers = start_workers(1, redis=persistent_redis.env_of("worker"), env={"WORKER_PREFETCH": "3"})
    producer = Background("--jobs", "3", "--duration", "4", "--timeout", "120", "--json", env=persistent_redis.env)
    client = persistent_redis.client(db=1)

    def claimed() -> list[runs.Run]:
        return [r for key in client.keys(f"{runs.PREFIX}*") for r in runs.parse(client.lrange(key, 0, -1))]

    wait_for(lambda: len(claimed()) == 3, 60, "three jobs claimed by the one worker", 0.2)  # one runs, two wait
    persistent_redis.stop()
    time.sleep(1)
    persistent_redis.start()
    run = producer.finish(150)
    assert run.returncode == 0, run.stderr + workers.logs[0].read_text()[-3000:]
    assert [r["status"] for r in run.document["results"]] == ["SUCCESS"] * 3
    first_three = sorted(claimed(), key=lambda r: r.started_at)[:3]
    assert all(r.interrupted for r in first_three), first_three  # cancelled or dropped: none a death
    assert all(runs.never_finished(v, 1) == [] for v in runs.read_runs(client, [r["task_id"] for r in
                                                                                 run.document["results"]]).values())


def test_a_job_taken_off_the_queue_by_a_worker_that_died_is_sent_again(start_workers, redis_env, redis_server):
    workers = start_workers(1)
    producer = Background("--jobs", "2", "--duration", "2", "--json", env=redis_env)
    wait_until_busy = wait_for(lambda: workers.busy(), 20, "the worker to run the first job", 0.1)
    (running,) = next(iter(wait_until_busy.values()))
    client = redis_server.client()  # admin: no role but a worker's takes a job off the queue
    # What a worker does with BRPOP before it dies: the message is off the queue and in no
    # `unacked` hash; nothing in Redis remembers it.
    taken = wait_for(lambda: client.rpop("jobs"), 10, "the second job in the queue", 0.05)
    lost_id = json.loads(taken)["headers"]["id"]
    assert lost_id != running
    run = producer.finish(90)
    assert run.returncode == 0, run.stderr
    results = {r["task_id"]: r for r in run.document["results"]}
    assert [r["status"] for r in results.values()] == ["SUCCESS", "SUCCESS"]
    assert results[lost_id]["resubmitted"] == 1 and "resubmitted" not in results[running]
    assert run.document["summary"]["resubmitted"] == 1
    assert any("lost on their way to a worker" in note for note in run.document["summary"]["notes"])


def test_redis_killed_outright_under_running_jobs_loses_none(persistent_redis, start_workers, recovery_service):
    # SIGKILL: no goodbye to any client, and the append-only file may miss its last second of
    # writes (a job taken, a run list entry): whatever Redis forgot, the producer or the
    # recovery service brings back.
    service = recovery_service(env=persistent_redis.env_of("recovery"))
    workers = start_workers(2, redis=persistent_redis.env_of("worker"))
    producer = Background("--jobs", "8", "--duration", "2", "--timeout", "120", "--json", env=persistent_redis.env)
    wait_until_busy(workers, 2, queued=6)  # every job sent: Redis dies under jobs, not under a producer submitting
    persistent_redis.proc.kill()
    persistent_redis.proc.wait(10)
    time.sleep(1)
    persistent_redis.start()
    run = producer.finish(150)
    logs = service.log.read_text() + "".join(log.read_text()[-3000:] for log in workers.logs)
    assert run.returncode == 0, run.stderr + logs
    results = run.document["results"]
    assert len(results) == 8 and all(r["status"] == "SUCCESS" for r in results), logs
    found = runs.read_runs(persistent_redis.client(db=1), [r["task_id"] for r in results])
    assert run.document["summary"]["duplicates"] == sum(1 for v in found.values() if runs.duplicate_runs(v))
    assert all(runs.never_finished(v, 1) == [] or r["redelivered"] for r, v in
               ((r, found[r["task_id"]]) for r in results))  # a run cut short was followed by a redelivery
