"""What the worker's transport takes for a job, and what it sets aside (worker.transport), without I/O."""

from __future__ import annotations

import pytest

from worker.transport import dead_letter_key, is_reply_queue, why_not_a_task

TASK = {"body": "W10=", "content-type": "application/json", "headers": {"task": "task1", "id": "4f1c"},
        "properties": {"delivery_tag": "t", "delivery_info": {"exchange": "", "routing_key": "jobs"}}}


def test_a_celery_task_message_is_a_job():
    assert why_not_a_task(TASK) is None


@pytest.mark.parametrize(("payload", "why"), [
    ([1, 2], "a JSON list, not a message"),
    ("text", "a JSON str, not a message"),
    ({}, "no delivery tag: not a kombu message"),
    ({**TASK, "properties": {"delivery_tag": "t"}}, "no delivery info: not a kombu message"),
    ({**TASK, "properties": {"delivery_tag": "t", "delivery_info": {}}}, "no delivery info: not a kombu message"),
    ({**TASK, "properties": {"delivery_tag": "t", "delivery_info": {"exchange": "", "routing_key": 1}}},
     "no delivery info: not a kombu message"),
    ({**TASK, "properties": {**TASK["properties"], "delivery_tag": ["t"]}}, "no delivery tag: not a kombu message"),
    ({**TASK, "headers": {"id": "4f1c"}}, "no task name and id in its headers: not a Celery task message"),
    ({**TASK, "headers": {"task": "task1"}}, "no task name and id in its headers: not a Celery task message"),
    ({**TASK, "headers": None}, "no task name and id in its headers: not a Celery task message"),
    ({**TASK, "body": 5}, "its body is not text"),
])
def test_anything_else_is_set_aside_with_the_reason(payload, why):
    assert why_not_a_task(payload) == why


def test_a_remote_control_reply_needs_no_task_headers():
    reply = {**TASK, "headers": {}}
    assert is_reply_queue("4f1c.reply.celery.pidbox") and not is_reply_queue("jobs")
    assert why_not_a_task(reply, reply=True) is None
    assert why_not_a_task(reply) is not None
    assert why_not_a_task({**reply, "body": 1}, reply=True) == "its body is not text"
    assert why_not_a_task([1], reply=True) == "a JSON list, not a message"


def test_the_dead_letter_list_is_named_after_its_queue():
    assert dead_letter_key("jobs") == "jobs.dead" and dead_letter_key("jobs-threads") == "jobs-threads.dead"
