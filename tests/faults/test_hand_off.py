"""The hand-off (worker/layout.py, worker/transport.py) on local workers and a real Redis: a job on
its way to a worker that freezes, dies or stops is in Redis under that worker's name, and goes
back; jobs come from a plain Celery client (kombu's own transport), not from the producer,
which could otherwise send them again itself."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
from celery import Celery

from tests.helpers import wait_for
from worker import layout, runs

pytestmark = pytest.mark.faults


@pytest.fixture
def plain_client(redis_env: dict[str, str]) -> Iterator[Celery]:
    """A Celery app as any user writes it: kombu's stock Redis transport, no setting of ours."""
    app = Celery(broker=redis_env["BROKER_URL"], backend=redis_env["RESULT_BACKEND"])
    yield app
    app.close()


def blocked_workers(client) -> set[str]:
    """Worker nodes with a connection blocked in Redis now (waiting in BLMOVE for a job)."""
    return {c["name"].split(":", 1)[1].rsplit("/", 1)[0] for c in client.client_list()
            if str(c.get("name", "")).startswith("celery-worker:") and "b" in str(c.get("flags", ""))}


def taken_by(client, nodes: list[str]) -> dict[str, int]:
    """How many jobs each node's hand-off list holds."""
    return {node: client.llen(layout.hand_off_key(node)) for node in nodes}


def send(app: Celery, count: int, duration: float) -> list[str]:
    return [app.send_task(f"task{i % 2 + 1}", kwargs={"duration": duration}, queue="jobs").id for i in range(count)]


def freeze_and_send(workers, admin, app: Celery, count: int, duration: float) -> tuple[list[str], dict[str, int]]:
    """Freeze every worker while all wait in BLMOVE, send `count` jobs at once: Redis moves them into
    the frozen workers' hand-off lists. Returns the ids and what each list holds (the workers stay frozen).

    A wait lasts up to 1 s: one that timed out just before the freeze is not sent again, and its
    worker takes nothing. Then the workers are thawed, run those jobs, and it is tried again."""
    with app.producer_or_acquire() as producer:  # connected before the freeze: the jobs go out in milliseconds
        producer.connection.ensure_connection()
    for _ in range(5):
        wait_for(lambda: blocked_workers(admin) >= set(workers.names), 20, "every worker waiting for a job", 0.01)
        for p in workers.procs:
            os.kill(p.pid, signal.SIGSTOP)
        ids = send(app, count, duration)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            if taken := {n: k for n, k in taken_by(admin, workers.names).items() if k}:
                return ids, taken
            time.sleep(0.02)
        for p in workers.procs:
            os.kill(p.pid, signal.SIGCONT)
        for task_id in ids:
            app.AsyncResult(task_id).get(timeout=60)
    pytest.fail("in five tries no job was moved into a frozen worker's hand-off list")


def test_jobs_from_a_plain_client_to_frozen_workers_survive_the_death_of_one(start_workers, recovery_service,
                                                                              redis_server, plain_client):
    service = recovery_service()
    workers = start_workers(4)
    admin = redis_server.client()
    try:
        ids, taken = freeze_and_send(workers, admin, plain_client, 4, 0.5)
        victim = workers.names.index(next(iter(taken)))
        os.killpg(workers.procs[victim].pid, signal.SIGKILL)  # the worker and its pool: no goodbye
        workers.procs[victim].wait(10)
    finally:
        for p in workers.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
    results = {task_id: plain_client.AsyncResult(task_id).get(timeout=60) for task_id in ids}
    log = service.log.read_text()
    assert all(r["worker"] != workers.names[victim] for r in results.values()), results
    assert f"{workers.names[victim]} " in log and "on its way to it back in the queue" in log, log
    assert admin.llen(layout.hand_off_key(workers.names[victim])) == 0
    found = runs.read_runs(redis_server.client(db=1), ids)
    assert all(len(found[t]) == 1 for t in ids), found  # each ran once: none lost, none twice


def test_a_job_in_the_socket_of_a_worker_told_to_stop_is_not_lost(start_workers, redis_server, plain_client):
    # No recovery service: the worker itself puts back what it took as it shuts down (warm).
    workers = start_workers(2)
    admin = redis_server.client()
    try:
        (task_id,), taken = freeze_and_send(workers, admin, plain_client, 1, 0.5)
        leaving = workers.names.index(next(iter(taken)))
        os.kill(workers.procs[leaving].pid, signal.SIGTERM)
    finally:
        for p in workers.procs:
            os.kill(p.pid, signal.SIGCONT)
    result = plain_client.AsyncResult(task_id).get(timeout=60)
    workers.procs[leaving].wait(30)
    assert admin.llen(layout.hand_off_key(workers.names[leaving])) == 0
    # It put the job back on its way out, from its hand-off list (not yet claimed) or from
    # `unacked` (claimed, not started: kombu's restore at shutdown), and the other worker ran
    # it; or it had started it before the signal and finished it before leaving. Once, either way.
    if result["worker"] != workers.names[leaving]:
        log = workers.logs[leaving].read_text()
        assert ("put back 1 job(s) it had taken but not claimed, as it stopped" in log
                or "Restoring 1 unacknowledged message(s)" in log), log
    # One run finished; a claim it put back unstarted is on record, interrupted, not a death.
    found = runs.read_runs(redis_server.client(db=1), [task_id])[task_id]
    assert [r.worker for r in found if r.finished_at] == [result["worker"]], found
    assert all(r.interrupted == runs.PUT_BACK for r in found if not r.finished_at), found


def test_a_job_cut_short_by_a_cold_shutdown_goes_back_and_is_no_death_of_its_worker(start_workers, redis_server,
                                                                                   plain_client):
    workers = start_workers(1)
    results_db = redis_server.client(db=1)
    (task_id,) = send(plain_client, 1, 5.0)
    wait_for(lambda: runs.read_runs(results_db, [task_id])[task_id], 30, "the job claimed")
    time.sleep(0.5)  # in the pool process now
    os.kill(workers.procs[0].pid, signal.SIGQUIT)  # cold shutdown: the running job is cut short
    workers.procs[0].wait(30)
    assert "Restoring 1 unacknowledged message(s)" in workers.logs[0].read_text()
    (cut,) = runs.read_runs(results_db, [task_id])[task_id]
    assert cut.interrupted == runs.PUT_BACK and runs.never_finished([cut], 1) == [], cut
    again = start_workers(1)
    result = plain_client.AsyncResult(task_id).get(timeout=60)
    assert result["worker"] == again.names[0]
    first, second = runs.read_runs(results_db, [task_id])[task_id]
    assert first.interrupted and second.finished_at and runs.duplicate_runs([first, second]) == []


def test_a_worker_killed_with_a_job_on_its_way_gets_it_back_when_it_starts_again(start_workers, redis_server,
                                                                                 plain_client):
    # No recovery service either: a worker restarted under the same name (a container restarted
    # by its policy) puts back what its previous life had taken before it takes anything.
    workers = start_workers(1)
    admin = redis_server.client()
    (task_id,), taken = freeze_and_send(workers, admin, plain_client, 1, 0.2)
    assert taken == {workers.names[0]: 1}
    os.killpg(workers.procs[0].pid, signal.SIGKILL)
    workers.procs[0].wait(10)
    assert admin.llen("jobs") == 0  # in no queue: only the hand-off list remembers it
    again = start_workers(1, nodes=workers.names)
    result = plain_client.AsyncResult(task_id).get(timeout=60)
    assert result["worker"] == again.names[0] == workers.names[0]
    assert "put back 1 job(s) it had taken but not claimed, before taking its first job" in again.logs[0].read_text()


def test_a_job_left_in_a_live_workers_list_by_a_lost_reply_goes_back_within_two_sweeps(start_workers, redis_server,
                                                                                       plain_client):
    # As when kombu drops a connection whose reply is overdue while Redis still moved the job:
    # the job is in the worker's list, the worker never read it. No recovery service either.
    workers = start_workers(1)
    admin = redis_server.client()
    task_id = "left-" + os.urandom(4).hex()
    plain_client.send_task("task1", kwargs={"duration": 0.1}, queue="quiz-nobody-takes-this", task_id=task_id)
    (raw,) = admin.lrange("quiz-nobody-takes-this", 0, -1)
    admin.delete("quiz-nobody-takes-this")
    message = json.loads(raw)
    message["properties"]["delivery_info"]["routing_key"] = "jobs"  # as if taken from `jobs`
    admin.lpush(layout.hand_off_key(workers.names[0]), json.dumps(message))
    result = plain_client.AsyncResult(task_id).get(timeout=40)  # sweeps every 5 s: put back at the second
    assert result["worker"] == workers.names[0]
    assert "left in its list after a lost reply" in workers.logs[0].read_text()
