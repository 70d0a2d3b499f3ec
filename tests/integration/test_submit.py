"""The pipelined submit publishes exactly what `send_task` publishes, task-sent events included (a
flush's events as one `task.multi` message, as a worker sends its task events)."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest

from devcluster.local_cluster import make_app
from producer.jobs import Job, Status
from producer.submit import Submission, submit, warm_up
from worker.records import utc_now

pytestmark = pytest.mark.integration

QUEUE = "jobs-nobody-consumes"  # no worker listens here: the messages stay in Redis to be read


def normalized(raw: bytes, task_id: str) -> dict[str, Any]:
    """A message as stored in Redis, its ids and timestamps replaced by placeholders."""
    text = raw.decode().replace(task_id, "<id>")
    message = json.loads(text)
    message["properties"]["delivery_tag"] = "<tag>"
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def sent_events(pubsub: Any, ids: set[str], timeout_s: float) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The task-sent events of `ids` published on the event fanout, read until all arrived or `timeout_s`,
    and the channel of each message that carried any (one event, or a list of them)."""
    found: dict[str, dict[str, Any]] = {}
    channels: list[str] = []
    deadline = time.monotonic() + timeout_s
    while set(found) != ids and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if not message or message["type"] != "pmessage":
            continue
        body = json.loads(base64.b64decode(json.loads(message["data"])["body"]))
        carried = [e for e in (body if isinstance(body, list) else [body])
                   if e.get("type") == "task-sent" and e.get("uuid") in ids]
        found |= {event["uuid"]: event for event in carried}
        channels += [message["channel"].decode()] if carried else []
    return found, channels


def test_pipelined_messages_and_events_are_send_tasks_own(redis_env, redis_server, monkeypatch):
    from producer import submit as submitting

    monkeypatch.setattr(submitting, "FLUSH_AFTER_S", 60.0)  # flushes by size alone, however slow the machine
    app = make_app(redis_env["BROKER_URL"], redis_env["RESULT_BACKEND"])
    client = redis_server.client()
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("*celeryev*")  # Celery's event exchange, as Flower listens to it
    try:
        warm_up(app, QUEUE)
        job = Job("task1", 0.25, "sleep", QUEUE)
        plain = app.send_task(job.task, kwargs=job.kwargs, queue=QUEUE)
        submission = Submission({}, [])
        told: list[int] = []
        submit(app, [job, job, job], submission, on_flushed=told.append)
        assert submission.reached == 3 and len(submission.outcomes) == 3
        assert told == [1, 3]  # after each flush (1, then 2 more): how far the submission got
        stored = list(reversed(client.lrange(QUEUE, 0, -1)))  # LPUSH: oldest last
        ids = [plain.id, *(r.id for r in submission.results)]
        assert [json.loads(raw)["headers"]["id"] for raw in stored] == ids  # all of them, in order
        expected = normalized(stored[0], plain.id)
        for raw, task_id in zip(stored[1:], ids[1:], strict=True):
            assert normalized(raw, task_id) == expected  # headers, properties, routing, body
        events, channels = sent_events(pubsub, set(ids), timeout_s=10)
        assert set(events) == set(ids)  # Flower sees every job queued
        # send_task's own, then one message per flush of the batch (1 job, then 2)
        assert [c.rpartition("/")[2] for c in channels] == ["task.sent", "task.multi", "task.multi"]
        shapes = {task_id: json.loads(json.dumps(event).replace(task_id, "<id>")) for task_id, event in events.items()}
        for shape in shapes.values():
            for varying in ("timestamp", "clock"):
                shape.pop(varying)
        assert all(shape == shapes[plain.id] for shape in shapes.values()), shapes
        assert shapes[plain.id]["queue"] == QUEUE and shapes[plain.id]["name"] == "task1"
    finally:
        for result in [plain, *submission.results]:
            app.backend.remove_pending_result(result)
        pubsub.close()
        app.close()


@pytest.mark.parametrize(("flush_after_s", "flushes"), [(0.0, [1, 2, 3, 4, 5]), (60.0, [1, 3, 5])])
def test_a_flush_goes_when_it_holds_its_size_or_its_first_message_is_old_enough(
        redis_env, redis_server, monkeypatch, flush_after_s, flushes):
    # Under load a flush of 128 took 250 ms to fill: its jobs and task-sent events waited that long
    # (issue #32). With no wait allowed, every message goes alone; with a minute, by size (1, 2, 2).
    from producer import submit as submitting

    monkeypatch.setattr(submitting, "FLUSH_AFTER_S", flush_after_s)
    app = make_app(redis_env["BROKER_URL"], redis_env["RESULT_BACKEND"])
    client = redis_server.client()
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("*celeryev*")
    submission = Submission({}, [])
    try:
        warm_up(app, QUEUE)
        told: list[int] = []
        submit(app, [Job("task1", 0.25, "sleep", QUEUE)] * 5, submission, on_flushed=told.append)
        assert told == flushes and submission.reached == 5 and client.llen(QUEUE) == 5
        events, channels = sent_events(pubsub, {r.id for r in submission.results}, timeout_s=10)
        assert len(events) == 5 and len(channels) == len(flushes)  # each flush's events: one message
    finally:
        for result in submission.results:
            app.backend.remove_pending_result(result)
        client.delete(QUEUE)
        pubsub.close()
        app.close()


def test_the_duplicates_are_read_after_a_redis_restart_and_a_redis_that_stays_away_is_said(
        persistent_redis, monkeypatch, caplog):
    # The nemesis run: a job ran twice, and the producer's one read of the run lists met a Redis
    # restart; the report said 0 duplicates where the lists said 1.
    from datetime import timedelta

    from producer import submit as submitting
    from producer.jobs import Outcome
    from worker import runs

    app = make_app(persistent_redis.env["BROKER_URL"], persistent_redis.env["RESULT_BACKEND"])
    try:
        client = persistent_redis.client(db=1)  # as the workers write them (the result backend's database)
        start = utc_now()
        for worker, at in (("worker@a", start), ("worker@b", start + timedelta(seconds=6))):
            client.rpush(runs.key("twice"), runs.entry("started", worker, 7, 1, at, at),
                         runs.entry("finished", worker, 7, 1, at, at + timedelta(seconds=0.25)))
        job = Job("task1", 0.25, "sleep", QUEUE)
        outcomes = {"twice": Outcome(job, "twice", start, status=Status.SUCCESS)}
        persistent_redis.stop()
        back = threading.Timer(1.5, persistent_redis.start)
        back.start()
        submitting.note_duplicates(app, outcomes)
        back.join()
        assert [r.worker for r in outcomes["twice"].ran_twice] == ["worker@a", "worker@b"]
        persistent_redis.stop()
        monkeypatch.setattr(submitting, "REDIS_BACK_S", 1.0)
        outcomes = {"twice": Outcome(job, "twice", start, status=Status.SUCCESS)}
        with caplog.at_level("WARNING", logger="producer.submit"):
            submitting.note_duplicates(app, outcomes)
        assert outcomes["twice"].ran_twice == ()
        assert "could not read the jobs' run lists" in caplog.text and "not counted" in caplog.text
        persistent_redis.start()
    finally:
        app.close()


def test_an_empty_batch_publishes_nothing(redis_env, redis_server):
    app = make_app(redis_env["BROKER_URL"], redis_env["RESULT_BACKEND"])
    try:
        submission = Submission({}, [])
        submit(app, [], submission)
        assert submission.reached == 0 and redis_server.client().llen(QUEUE) == 0
    finally:
        app.close()


def test_a_look_at_the_queue_rides_out_a_redis_restart_and_a_redis_that_stays_away_is_one_clear_error(
        persistent_redis, monkeypatch):
    # A producer starting while Redis restarts (the nemesis run's `compose restart redis` met one
    # between the workers' check and the queue's depth): it waits for Redis, looks again.
    from cluster.errors import BrokerUnreachable
    from cluster.queues import depth
    from producer import submit as submitting

    app = make_app(persistent_redis.env["BROKER_URL"], persistent_redis.env["RESULT_BACKEND"])
    try:
        assert submitting.riding_out_a_restart(app, lambda: depth(app, "jobs")) == 0
        persistent_redis.stop()
        back = threading.Timer(1.5, persistent_redis.start)
        back.start()
        started = time.monotonic()
        assert submitting.riding_out_a_restart(app, lambda: depth(app, "jobs")) == 0
        assert 1.0 < time.monotonic() - started < 15
        back.join()
        persistent_redis.stop()
        monkeypatch.setattr(submitting, "REDIS_BACK_S", 1.0)
        with pytest.raises(BrokerUnreachable, match="did not answer again within 1 s"):
            submitting.riding_out_a_restart(app, lambda: depth(app, "jobs"))
        persistent_redis.start()
    finally:
        app.close()
