"""The queues in Redis: how many jobs wait, withdrawing our own, emptying them on request.

Through kombu's own Redis channel (its priority sub-lists, its purge), so what is counted
and removed is exactly what the workers would have taken.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.transport.redis import PRIORITY_STEPS

from cluster.errors import BrokerUnreachable
from cluster.workers import masked
from worker.layout import SEP, dead_letter_key, queue_lists, task_id


@contextmanager
def channel(app: Celery) -> Iterator[Any]:
    """A kombu channel on the broker, as the workers see it; BrokerUnreachable if Redis is gone."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=app.conf.broker_connection_timeout)
            yield conn.default_channel
    except (OperationalError, OSError, redis.ConnectionError, redis.TimeoutError) as exc:  # kombu's client's own too
        raise BrokerUnreachable(f"cannot reach Redis at {masked(app.conf.broker_url)}: {exc}") from None


def priority_steps(app: Celery) -> list[int]:
    """The priority steps kombu's Redis channel uses for this app: its transport option, else kombu's default."""
    return list(app.conf.broker_transport_options.get("priority_steps", PRIORITY_STEPS))


def read_depths(client: redis.Redis, queues: Iterable[str], steps: Iterable[int] = PRIORITY_STEPS,
                sep: str = SEP) -> dict[str, int]:
    """Jobs waiting in each queue (LLEN of each of its lists), in one round trip; Redis' errors pass through.

    The one reader of queue depths: `depth`/`depths` call it on a kombu channel's client, the
    live view on a client of its own with short timeouts.
    """
    queues, steps = list(queues), list(steps)
    names = {q: queue_lists(q, steps, sep) for q in queues}
    pipe = client.pipeline(transaction=False)
    for q in queues:
        for name in names[q]:
            pipe.llen(name)
    counts = iter(pipe.execute())
    return {q: sum(next(counts) for _ in names[q]) for q in queues}


def depth(app: Celery, queue: str) -> int:
    """Jobs waiting in `queue`, not yet taken by any worker."""
    return depths(app, [queue])[queue]


def depths(app: Celery, queues: Iterable[str]) -> dict[str, int]:
    """depth() of several queues over one connection."""
    with channel(app) as chan:
        return read_depths(chan.client, queues, chan.priority_steps, chan.sep)


def set_aside(app: Celery, queues: Iterable[str]) -> dict[str, int]:
    """Messages the workers found on each queue that could not be jobs (junk), kept in its
    dead-letter list (worker.transport) instead of crashing them."""
    with channel(app) as chan:
        return {q: chan.client.llen(dead_letter_key(q)) for q in queues}


def withdraw(app: Celery, queue: str, task_ids: Iterable[str]) -> set[str]:
    """Take these jobs out of `queue` if no worker has taken them yet; returns the ids removed.

    Each message is removed by its exact bytes (LREM), so a job a worker takes meanwhile is
    simply not found, never removed twice. Jobs already reserved by a worker are revoked
    too, so it drops them instead of running them (Celery's revoke, without terminate:
    running jobs finish).
    """
    wanted = set(task_ids)
    removed: set[str] = set()
    if not wanted:
        return removed
    with channel(app) as chan:
        client = chan.client
        for name in queue_lists(queue, chan.priority_steps, chan.sep):
            for raw in client.lrange(name, 0, -1):
                found = task_id(raw)
                if found in wanted and client.lrem(name, 1, raw):
                    removed.add(found)
    if left := wanted - removed:
        app.control.revoke(sorted(left))
    return removed


def purge(app: Celery, queues: Iterable[str]) -> dict[str, int]:
    """Empty each queue; returns how many jobs each held."""
    with channel(app) as chan:
        return {q: chan.queue_purge(q) or 0 for q in queues}
