"""A job's run list written inside the steps a worker makes anyway, on a real redis-server as the
worker's role: the claim appends the run's start in the results database (worker/layout.py's
CLAIM), the finish is written with the result and applies the fence (worker/runs.py's FINISH)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from worker import layout, runs

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
NODE = "w@a"


@pytest.fixture
def jobs(redis_env, redis_server):
    """The worker's client of the jobs' database."""
    return redis_server.client(role="worker")


@pytest.fixture
def results(redis_env, redis_server):
    """The worker's client of the results' database (runs:<id>, celery-task-meta-<id>)."""
    return redis_server.client(db=1, role="worker")


@pytest.fixture
def looking(redis_env, redis_server):
    """An admin's client of the results' database: what the test looks at (TTL, EXISTS)."""
    return redis_server.client(db=1)


def taken(client, task_id: str, node: str = NODE) -> tuple[bytes, dict]:
    """A message for `task_id` in `node`'s hand-off list, as a take leaves it."""
    payload = {"body": "W10=", "content-type": "application/json", "content-encoding": "utf-8",
               "headers": {"task": "task1", "id": task_id, "retries": 0},
               "properties": {"delivery_tag": str(uuid.uuid4()),
                              "delivery_info": {"exchange": "", "routing_key": "jobs"}}}
    raw = json.dumps(payload).encode()
    client.lpush(layout.hand_off_key(node), raw)
    return raw, payload


def claim_with_start(client, task_id: str, at: datetime, node: str = NODE):
    raw, payload = taken(client, task_id, node)
    start = runs.entry("started", node, None, 1, at, at)
    return layout.claim(client, node, raw, payload, at.timestamp(), (runs.key(task_id), 1, start, 600))


def result(task_id: str, status: str = "SUCCESS") -> runs.Result:
    return runs.Result(f"celery-task-meta-{task_id}", json.dumps({"status": status, "task_id": task_id}), 300)


def finish(client, task_id: str, run: runs.Run, with_result: runs.Result | None = None) -> str | None:
    return runs.record_finish(client, task_id, run, run.started_at + timedelta(seconds=1), 600, with_result)


def test_a_claim_writes_the_start_in_the_results_database_and_hands_back_what_came_before(jobs, looking, redis_server):
    task_id = str(uuid.uuid4())
    assert claim_with_start(jobs, task_id, T0) == []
    assert redis_server.client().exists(runs.key(task_id)) == 0  # not in the jobs' database
    assert [(r.worker, r.pid, r.started_at) for r in runs.parse(looking.lrange(runs.key(task_id), 0, -1))] == \
        [(NODE, None, T0)]
    assert 0 < looking.ttl(runs.key(task_id)) <= 600
    before = claim_with_start(jobs, task_id, T0 + timedelta(seconds=5), node="w@b")
    assert [r.worker for r in runs.parse(before)] == [NODE]  # the second claim sees the first run
    assert redis_server.client().hlen(layout.UNACKED) >= 2  # kombu's own writes, in the same step


def test_a_claim_of_a_job_put_back_meanwhile_writes_no_start(jobs, looking):
    task_id = str(uuid.uuid4())
    raw, payload = taken(jobs, task_id)
    jobs.delete(layout.hand_off_key(NODE))  # put back (the recovery service) before the claim
    start = runs.entry("started", NODE, None, 1, T0, T0)
    assert layout.claim(jobs, NODE, raw, payload, 1.0, (runs.key(task_id), 1, start, 600)) is None
    assert looking.exists(runs.key(task_id)) == 0


def test_a_finish_stores_and_publishes_the_result_with_the_run_s_end(results, looking):
    task_id, run = str(uuid.uuid4()), runs.Run(NODE, 8, 1, T0)
    results.rpush(runs.key(task_id), runs.entry("started", NODE, None, 1, T0, T0))
    listener = results.pubsub()
    listener.subscribe(f"celery-task-meta-{task_id}")
    listener.get_message(timeout=1)  # the subscription's confirmation
    assert finish(results, task_id, run, result(task_id)) is None
    stored = results.get(f"celery-task-meta-{task_id}")
    assert json.loads(stored)["status"] == "SUCCESS" and 0 < looking.ttl(f"celery-task-meta-{task_id}") <= 300
    message = listener.get_message(timeout=2)
    assert message is not None and message["data"] == stored
    listener.close()
    (done,) = runs.parse(results.lrange(runs.key(task_id), 0, -1))
    assert (done.pid, done.finished_at) == (8, T0 + timedelta(seconds=1))


def test_a_finish_never_overwrites_a_success_stored_before_it(results):
    task_id, run = str(uuid.uuid4()), runs.Run(NODE, 8, 1, T0)
    results.set(f"celery-task-meta-{task_id}", json.dumps({"status": "SUCCESS", "result": "first"}))
    assert finish(results, task_id, run, result(task_id)) is None
    assert json.loads(results.get(f"celery-task-meta-{task_id}"))["result"] == "first"
    results.set(f"celery-task-meta-{task_id}", json.dumps({"status": "RETRY"}))
    assert finish(results, task_id, run, result(task_id)) is None  # a retry's state is overwritten
    assert json.loads(results.get(f"celery-task-meta-{task_id}"))["status"] == "SUCCESS"


@pytest.mark.parametrize(("history", "fenced"), [
    (["start", "cut"], runs.FENCED),  # fenced off while it ran
    (["start", "cut:this"], runs.FENCED),  # an interruption of this run alone
    (["start", "cut:cancel"], runs.CANCELLED),  # it cancelled itself (its worker lost Redis)
    (["start"], None),
    (["start", "finish", "cut"], None),  # cut after it finished (a retried write): its end counts
    ([], None),  # no start on record (a gap): nothing fences it
    (["cut", "start"], None),  # that cut was of an earlier run of the worker
    (["start", "cut:other-worker", "cut:other-run"], None),
    (["junk", "start", "junk", "cut"], runs.FENCED),  # unreadable entries are passed over
])
def test_the_fence_holds_only_for_a_cut_of_this_run_after_its_start(results, history, fenced):
    task_id, run = str(uuid.uuid4()), runs.Run(NODE, 8, 1, T0)
    entries = {"start": runs.entry("started", NODE, None, 1, T0, T0),
               "finish": runs.entry("finished", NODE, 8, 1, T0, T0 + timedelta(seconds=1)),
               "cut": runs.interruption(NODE, None, runs.FENCED, T0),
               "cut:this": runs.interruption(NODE, T0, runs.FENCED, T0),
               "cut:cancel": runs.interruption(NODE, T0, runs.CANCELLED, T0),
               "cut:other-worker": runs.interruption("w@b", None, runs.FENCED, T0),
               "cut:other-run": runs.interruption(NODE, T0 - timedelta(seconds=1), runs.FENCED, T0),
               "junk": '{"event": "interrupted", "worker": 3'}
    for name in history:
        results.rpush(runs.key(task_id), entries[name])
    assert finish(results, task_id, run, result(task_id)) == fenced
    stored = results.get(f"celery-task-meta-{task_id}")
    assert (stored is None) == (fenced is not None)  # a fenced run's result is not the job's
    assert results.lrange(runs.key(task_id), -1, -1) == \
        [runs.entry("finished", NODE, 8, 1, T0, T0 + timedelta(seconds=1)).encode()]  # its end on record
