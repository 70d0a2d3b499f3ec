"""The hand-off's Redis steps (worker/layout.py) on a real redis-server, as the roles that send them:
the take, the claim, and putting back what a worker had taken."""

from __future__ import annotations

import json
import uuid

import pytest
from celery import Celery

from worker import layout

pytestmark = pytest.mark.integration

NODE = "w@h"


def message(task_id: str, priority: int = 0) -> bytes:
    return json.dumps({"body": "W10=", "content-type": "application/json", "content-encoding": "utf-8",
                       "headers": {"task": "task1", "id": task_id},
                       "properties": {"delivery_tag": str(uuid.uuid4()), "priority": priority,
                                      "delivery_info": {"exchange": "", "routing_key": "jobs"}}}).encode()


@pytest.fixture
def as_worker(redis_env, redis_server):
    return redis_server.client(role="worker")


@pytest.fixture
def admin(redis_env, redis_server):
    return redis_server.client()


@pytest.fixture
def recovery_channel(redis_env, redis_server):
    """A kombu channel of the recovery service's role: what puts a gone worker's jobs back."""
    env = redis_server.env_of("recovery")
    app = Celery(broker=env["BROKER_URL"])
    with app.connection_for_write() as conn:
        yield conn.default_channel
    app.close()


def take(client, queue: str = "jobs", node: str = NODE, at: float = 100.0):
    lists = layout.queue_lists(queue)
    return client.eval(layout.TAKE, len(lists) + 2, *lists, layout.hand_off_key(node), layout.TAKERS, node, at)


def claim(client, raw: bytes, node: str = NODE, at: float = 200.0, pid: int | None = None) -> int:
    """1 if claimed, 0 if it was put back meanwhile (layout.claim, with no run list)."""
    return int(layout.claim(client, node, raw, json.loads(raw), at, pid=pid) is not None)


def test_a_take_moves_the_first_job_in_kombus_order_into_the_workers_list_and_names_it_a_taker(as_worker, admin):
    high, low = message("high", 0), message("low", 9)  # kombu: priority 0 is served first
    as_worker.lpush(layout.queue_lists("jobs")[3], low)
    as_worker.lpush("jobs", high)
    assert take(as_worker) == [b"jobs", high]
    assert as_worker.lrange(layout.hand_off_key(NODE), 0, -1) == [high] and as_worker.llen("jobs") == 0
    assert admin.zscore(layout.TAKERS, NODE) == 100.0
    assert take(as_worker) == [layout.queue_lists("jobs")[3].encode(), low]
    assert take(as_worker) is None  # nothing left: the worker then waits in BLMOVE
    assert layout.takers(as_worker) == [NODE] and layout.takers(as_worker, before=100.0) == []
    assert layout.taken_task_ids(as_worker) == {"high", "low"}


def test_a_claim_moves_the_job_into_kombus_unacked_once_and_only_if_still_taken(as_worker, admin):
    raw = message("a")
    as_worker.lpush("jobs", raw)
    take(as_worker)
    assert claim(as_worker, raw) == 1
    assert as_worker.llen(layout.hand_off_key(NODE)) == 0
    tag = json.loads(raw)["properties"]["delivery_tag"]
    assert layout.unacked_task_id(as_worker.hget(layout.UNACKED, tag)) == "a"
    assert admin.zscore(layout.UNACKED_INDEX, tag) == 200.0
    assert claim(as_worker, raw) == 0  # gone from the list: a second claim takes nothing


def test_the_claim_names_its_holder_in_the_unacked_entry_and_a_put_back_copy_names_none(as_worker, admin,
                                                                                      recovery_channel):
    raw = message("a")
    as_worker.lpush("jobs", raw)
    take(as_worker)
    at = 1765000000.123456  # the clock's own digits, read back from the index as Redis stores them
    assert claim(as_worker, raw, at=at, pid=4242) == 1
    tag = json.loads(raw)["properties"]["delivery_tag"]
    entry, score = as_worker.hget(layout.UNACKED, tag), admin.zscore(layout.UNACKED_INDEX, tag)
    assert layout.claimant(entry, score) == (NODE, 4242)
    layout.put_back_unacked(recovery_channel, recovery_channel.client, tag)
    back = json.loads(admin.lindex("jobs", -1))  # the head: taken next
    assert back["headers"]["id"] == "a" and layout.CLAIMED_BY not in back["properties"]
    assert back["properties"]["delivery_tag"] != tag


def test_what_a_worker_had_taken_goes_back_to_the_head_of_its_queue_marked_redelivered(as_worker, admin,
                                                                                     recovery_channel):
    first, second = message("first"), message("second")
    as_worker.lpush("jobs", first, second, message("waiting"))  # the oldest (pushed first) is taken first
    take(as_worker), take(as_worker)
    as_worker.lpush(layout.hand_off_key(NODE), b"\xffjunk")
    moved = layout.put_back_taken(recovery_channel, recovery_channel.client, NODE)
    assert sorted(moved) == sorted([first, second, b"\xffjunk"])
    assert as_worker.llen(layout.hand_off_key(NODE)) == 0
    order = [json.loads(admin.rpop("jobs")) for _ in range(3)]  # the order workers take them in
    assert [m["headers"]["id"] for m in order] == ["first", "second", "waiting"]
    assert order[0]["headers"]["redelivered"] is True and "redelivered" not in order[2]["headers"]
    assert as_worker.lrange(layout.dead_letter_key(layout.hand_off_key(NODE)), 0, -1) == [b"\xffjunk"]
    assert claim(as_worker, first) == 0  # the worker, back after all, cannot claim what went back


def test_putting_back_an_empty_list_changes_nothing(as_worker, recovery_channel):
    as_worker.lpush("jobs", message("waiting"))
    assert layout.put_back_taken(recovery_channel, recovery_channel.client, "nobody@h") == []
    assert as_worker.llen("jobs") == 1
