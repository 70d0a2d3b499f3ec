"""The cluster's events as the producer's follower reads them, from a real redis-server."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from celery import Celery

from cluster.events import WORKER_EVENTS, ClusterEvents
from settings import current
from tests.helpers import wait_for
from worker.config import celery_config

pytestmark = pytest.mark.integration


class Watched(ClusterEvents):
    """The follower, noting whether Redis already had its subscription when it said it was ready
    (asked from the follower's own thread, before it polls again: only what it did before counts)."""

    def __init__(self, app: Celery, admin: Any) -> None:
        super().__init__(app)
        self.admin, self.subscribed_when_ready = admin, None

    def _ready_to_consume(self, *args: Any, **kwargs: Any) -> None:
        super()._ready_to_consume(*args, **kwargs)
        connection = args[1].subclient.connection
        if connection is None or connection._sock is None:
            self.subscribed_when_ready = False
            return
        port = connection._sock.getsockname()[1]
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            mine = [c for c in self.admin.client_list() if c["addr"].endswith(f":{port}")]
            if mine and int(mine[0].get("psub", 0)) > 0:
                self.subscribed_when_ready = True
                return
            time.sleep(0.01)
        self.subscribed_when_ready = False


def test_the_follower_is_subscribed_before_it_says_it_is_ready(redis_server, redis_env):
    # The producer waits for the follower, then submits: the first job's events come at once. kombu
    # subscribes only at its next poll, after saying it is ready: an event in between was lost (a
    # trace once lacked its first job's reception).
    app = Celery()
    app.config_from_object(celery_config(current()))  # the project's settings (its transport), on this test's Redis
    app.conf.update(broker_url=redis_env["BROKER_URL"], result_backend=redis_env["RESULT_BACKEND"])
    admin = redis_server.client()
    follower = Watched(app, admin)
    try:
        follower.start(wait_s=5)
        assert follower.connected, follower.error
        wait_for(lambda: follower.subscribed_when_ready is not None, 3, "the follower's own look")
        assert follower.subscribed_when_ready is True
        task_id = str(uuid.uuid4())
        with app.connection_for_write() as connection:
            app.events.Dispatcher(connection, enabled=True).send("task-sent", uuid=task_id, name="task1")
        deadline = time.monotonic() + 3
        while task_id not in follower.state.tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        assert task_id in follower.state.tasks
    finally:
        follower.stop()
        app.close()
        admin.close()


def test_the_recovery_service_follows_the_workers_events_only_as_its_role(redis_server, redis_env, start_workers):
    # Issue #32: it needs heartbeats, not every task event; its PSUBSCRIBE pattern must be granted as
    # written (settings/roles.py), or Redis refuses it and the service hears no worker at all.
    workers = start_workers(1)
    recovery = redis_server.env_of("recovery")
    app = Celery()
    app.config_from_object(celery_config(current()))
    app.conf.update(broker_url=recovery["BROKER_URL"], result_backend=recovery["RESULT_BACKEND"])
    seen: list[str] = []
    follower = ClusterEvents(app, on_event=lambda event: seen.append(event["type"]), routing_key=WORKER_EVENTS)
    try:
        follower.start(wait_s=5)
        assert follower.connected, follower.error
        result = workers.app.send_task("task1", kwargs={"duration": 0.0}, queue="jobs")
        result.get(timeout=10)
        wait_for(lambda: "worker-heartbeat" in seen, 5, "a heartbeat")  # asked for at once as it connects
        assert follower.snapshot().worker(workers.names[0]) is not None
        time.sleep(0.5)  # the job's own events, had they been sent its way, are in by now
        assert not [kind for kind in seen if not kind.startswith("worker-")], seen
        assert follower.snapshot().tasks == ()
    finally:
        follower.stop()
        app.close()
