"""Questions the producer asks the cluster before it submits: is Redis there, who is listening."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import redis
from celery import Celery
from kombu.utils.url import maybe_sanitize_url

from producer.errors import BrokerUnreachable


def masked(url: str) -> str:
    """The URL with its password replaced by **, fit for an error message."""
    return maybe_sanitize_url(url)


def check_broker(url: str, timeout_s: float) -> None:
    """Raise BrokerUnreachable, naming the masked URL, unless Redis answers PING in time.

    Celery itself would retry a dead broker for a long while; a learner wants to know now.
    """
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise BrokerUnreachable(f"Redis at {masked(url)} refused the password: {exc}") from None
    except redis.ResponseError as exc:  # e.g. NOAUTH when no password was given
        raise BrokerUnreachable(f"Redis at {masked(url)} refused us: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise BrokerUnreachable(f"cannot reach Redis at {masked(url)} within {timeout_s:g} s: {exc}") from None
    finally:
        client.close()


@dataclass(frozen=True)
class Worker:
    """One worker node that consumes the queue, and how many jobs it runs at once."""

    name: str
    slots: int


def workers_on_queue(app: Celery, queue: str, timeout_s: float = 1.0) -> list[Worker]:
    """The workers consuming `queue` right now, from Celery's remote inspection.

    Two broadcasts, sent at once: `active_queues` says who listens to the queue, `stats`
    how many pool processes (or threads) each has.
    """
    inspect = app.control.inspect(timeout=timeout_s)
    with ThreadPoolExecutor(2) as pool:
        queues_future = pool.submit(inspect.active_queues)
        stats_future = pool.submit(inspect.stats)
        queues, stats = queues_future.result() or {}, stats_future.result() or {}
    workers = []
    for name, consumed in sorted(queues.items()):
        if any(q.get("name") == queue for q in consumed):
            pool_info = stats.get(name, {}).get("pool", {})
            workers.append(Worker(name, int(pool_info.get("max-concurrency", 1))))
    return workers
