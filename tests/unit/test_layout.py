"""The broker's layout (worker/layout.py) against kombu's own, and the transport's pure choices, without I/O.

A kombu upgrade that renames a key or a list fails here, instead of jobs going missing quietly."""

from __future__ import annotations

import json

import pytest
from kombu.transport.redis import PRIORITY_STEPS, Channel

from worker import layout
from worker.transport import WAIT_SLICE_S, holder_of, wait_plan

TASK = {"body": "W10=", "headers": {"task": "task1", "id": "4f1c"},
        "properties": {"delivery_tag": "t", "delivery_info": {"exchange": "jobs", "routing_key": "jobs"}}}


class Bare(Channel):
    """kombu's channel without a connection: only its naming is used."""

    def __init__(self) -> None:
        self.priority_steps = PRIORITY_STEPS


def test_kombus_names_are_the_layouts():
    assert (layout.UNACKED, layout.UNACKED_INDEX, layout.SEP) == ("unacked", "unacked_index", "\x06\x16")
    assert Channel.unacked_key == layout.UNACKED and Channel.unacked_index_key == layout.UNACKED_INDEX
    chan = Bare()
    assert layout.queue_lists("jobs") == [chan._q_for_pri("jobs", p) for p in PRIORITY_STEPS]
    assert layout.queue_lists("q", [0, 5], sep="|") == ["q", "q|5"]
    assert all(layout.list_queue(name) == "jobs" for name in layout.queue_lists("jobs"))


def test_the_hand_off_lists_sit_under_unacked_where_every_role_that_moves_jobs_may_write():
    assert layout.hand_off_key("worker@a1") == "unacked.taken:worker@a1"
    assert layout.TAKERS == "unacked.takers"
    assert layout.dead_letter_key(layout.hand_off_key("w@h")) == "unacked.taken:w@h.dead"


def test_a_task_id_is_read_from_protocol_2_headers_and_junk_is_none():
    assert layout.task_id(json.dumps(TASK)) == "4f1c"
    assert layout.task_id(json.dumps(TASK).encode()) == "4f1c"
    for junk in (b"\xff\x00", b"[]", b"{}", json.dumps({"headers": {"id": 5}}), json.dumps({"headers": None})):
        assert layout.task_id(junk) is None


def test_the_unacked_entry_is_what_kombus_qos_writes_and_reads_back():
    entry = layout.unacked_entry(TASK)
    message, exchange, routing_key = json.loads(entry)  # kombu's restore_by_tag reads it so
    assert (message, exchange, routing_key) == (TASK, "jobs", "jobs")
    assert layout.unacked_task_id(entry) == "4f1c"
    assert layout.unacked_task_id(b"junk") is None and layout.unacked_task_id("[]") is None
    assert layout.unacked_task_id(json.dumps([{"headers": {"id": 1}}])) is None


def test_the_unacked_entry_names_its_holder_only_while_its_time_is_the_entrys_own():
    entry = layout.unacked_entry(TASK, ("w@h", 7, 1700000000.123456))
    message, _, _ = json.loads(entry)
    assert message["properties"]["delivery_tag"] == "t" and TASK["properties"].get(layout.CLAIMED_BY) is None
    assert layout.claimant(entry, 1700000000.123456) == ("w@h", 7)
    assert layout.claimant(entry, 1700000000.1236) == ("w@h", 7)  # a score read back within a millisecond
    assert layout.claimant(entry, 1700000005.0) is None  # taken again since, by a plain BRPOP: not its holder
    assert layout.claimant(entry, None) is None
    assert layout.claimant(layout.unacked_entry(TASK), 1.0) is None  # written by kombu's own QoS
    for junk in (b"junk", "[]", json.dumps([{"properties": {layout.CLAIMED_BY: ["w@h", "7", 1.0]}}]),
                 json.dumps([{"properties": {layout.CLAIMED_BY: ["w@h", 7]}}])):
        assert layout.claimant(junk, 1.0) is None


@pytest.mark.parametrize(("raw", "ok"), [
    (json.dumps(TASK), True),
    (b"\x00junk", False),
    (json.dumps({"properties": {"delivery_info": {"exchange": "", "routing_key": 3}}}), False),
    (json.dumps({"properties": {}}), False),
    (json.dumps([1]), False),
])
def test_only_a_message_with_kombus_delivery_info_can_go_back_to_a_queue(raw, ok):
    assert (layout.restorable(raw) is not None) == ok


def test_a_worker_is_known_by_its_connection_name_and_nothing_else_takes_through_the_hand_off():
    prefix = "celery-worker:"
    assert holder_of("celery-worker:worker@a1b2/7", prefix) == ("worker@a1b2", 7)
    assert holder_of("celery-worker:w@h/x/12", prefix) == ("w@h/x", 12)
    for other in (None, "", "producer", "celery-worker:w@h", "celery-worker:/7", "celery-worker:w@h/x"):
        assert holder_of(other, prefix) is None


def test_one_queue_waits_as_long_as_kombus_brpop_several_only_a_slice_on_the_last_in_the_cycle():
    lists = layout.queue_lists("jobs")
    assert wait_plan(lists, 1, 1.0) == ("jobs", 1.0)
    both = [name for step in PRIORITY_STEPS for name in (layout.queue_lists("jobs", [step])[0],
                                                         layout.queue_lists("quiz-a", [step])[0])]
    assert both[:2] == ["jobs", "quiz-a"]  # kombu's order: every queue's priority 0 first
    assert wait_plan(both, 2, 1.0) == ("quiz-a", WAIT_SLICE_S)  # the queue last added, or that last had work
    assert wait_plan(both, 2, 0.05) == ("quiz-a", 0.05)


class Bindings:
    """A client holding kombu's binding sets, as Redis answers SMEMBERS (bytes)."""

    def __init__(self, sets: dict[str, set[bytes]]) -> None:
        self.sets = sets

    def smembers(self, key: str) -> set[bytes]:
        return self.sets.get(key, set())


def test_the_queues_bound_to_an_exchange_are_read_from_kombus_binding_set():
    sep = Channel.sep.encode()
    client = Bindings({Channel.keyprefix_queue % "celery.pidbox": {sep * 2 + b"w2@b.celery.pidbox",
                                                                   sep * 2 + b"w1@a.celery.pidbox"},
                       Channel.keyprefix_queue % "jobs": {b"jobs" + sep * 2 + b"jobs"}})
    assert layout.bound_queues(client, "celery.pidbox") == ["w1@a.celery.pidbox", "w2@b.celery.pidbox"]
    assert layout.bound_queues(client, "jobs") == ["jobs"]
    assert layout.bound_queues(client, "nothing") == []
