"""Questions any client asks the cluster: is Redis there, who is listening; and the one wait for workers."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.utils.url import maybe_sanitize_url

from cluster.errors import BrokerUnreachable, LocalClusterError, no_workers
from worker import layout


def masked(url: str) -> str:
    """The URL with its password replaced by **, fit for an error message."""
    return maybe_sanitize_url(url)


def check_broker(url: str, timeout_s: float) -> None:
    """Raise BrokerUnreachable, naming the masked URL, unless Redis answers PING in time.

    Celery itself would retry a dead broker for a long while; a learner wants to know now.
    """
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    except ValueError as exc:
        raise BrokerUnreachable(f"not a Redis URL: {masked(url)} ({exc})") from None
    try:
        client.ping()
    except (redis.AuthenticationError, redis.ResponseError) as exc:  # wrong password, or NOAUTH without one
        first = str(exc).split(",")[0].split(".")[0]
        raise BrokerUnreachable(f"Redis at {masked(url)} refused the password ({first}): set REDIS_PASSWORD "
                                "(or BROKER_URL and RESULT_BACKEND) to the cluster's") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise BrokerUnreachable(f"cannot reach Redis at {masked(url)} within {timeout_s:g} s ({exc}): start it "
                                "(docker compose up -d --wait, or python -m producer local up), or point "
                                "REDIS_HOST/REDIS_PORT or BROKER_URL at yours") from None
    finally:
        client.close()


@dataclass(frozen=True)
class Worker:
    """One worker node: its name, the queues it consumes, how many jobs it runs at once."""

    name: str
    queues: tuple[str, ...]
    slots: int
    pool: str = "prefork"


def listening_nodes(app: Celery) -> int:
    """How many workers' remote-control queues are bound now (kombu's binding set of the
    remote control's exchange): the most answers a broadcast can get. 0 if none is known (a
    Redis restarted a moment ago: each worker binds its queue again as it reconnects)."""
    with app.connection_for_read() as conn:
        return len(layout.bound_queues(conn.default_channel.client, app.control.mailbox.exchange.name))


def online_workers(app: Celery, timeout_s: float = 1.0) -> list[Worker]:
    """Every worker that answers Celery's remote inspection within `timeout_s` of the last answer.

    Two broadcasts, sent at once: `active_queues` says what each consumes, `stats` how many
    pool processes (or threads) each has. Each stops as soon as every worker bound to the
    remote control has answered (`listening_nodes`), instead of waiting `timeout_s` after the
    last answer in case more come: a second off every run (measured: 1.05 s of a 2.1 s demo).
    A worker killed a moment ago may still be bound: then the wait is `timeout_s`, as before.
    """
    try:
        limit = listening_nodes(app)
    except (OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        raise BrokerUnreachable(f"lost Redis at {masked(app.conf.broker_url)} while asking who listens: "
                                f"{exc}") from None
    inspect = app.control.inspect(timeout=timeout_s, limit=limit or None)
    try:
        with ThreadPoolExecutor(2) as pool:
            queues_future = pool.submit(inspect.active_queues)
            stats_future = pool.submit(inspect.stats)
            queues, stats = queues_future.result() or {}, stats_future.result() or {}
    except (OperationalError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
        raise BrokerUnreachable(f"lost Redis at {masked(app.conf.broker_url)} while asking who listens: "
                                f"{exc}") from None
    return [
        Worker(name, tuple(q["name"] for q in consumed),
               int(stats.get(name, {}).get("pool", {}).get("max-concurrency", 1)),
               pool_name(stats.get(name, {}).get("pool", {}).get("implementation", "")))
        for name, consumed in sorted(queues.items())
    ]


def pool_name(implementation: str) -> str:
    """`celery.concurrency.prefork:TaskPool` -> prefork (the names of worker.records.POOLS)."""
    module = implementation.split(":")[0].rsplit(".", 1)[-1]
    return {"thread": "threads", "gevent": "gevent", "solo": "solo"}.get(module, "prefork")


def consuming(workers: list[Worker], queue: str) -> list[Worker]:
    """The workers that take jobs from `queue`."""
    return [w for w in workers if queue in w.queues]


def check_brokers(app: Celery, timeout_s: float) -> None:
    """check_broker for the broker and, if it is another Redis, the result backend."""
    check_broker(app.conf.broker_url, timeout_s)
    if app.conf.result_backend != app.conf.broker_url:
        check_broker(app.conf.result_backend, timeout_s)


def ready_workers(app: Celery, queue: str, timeout_s: float, wait_s: float = 0.0,
                  on_wait: Callable[[], None] | None = None) -> list[Worker]:
    """The workers consuming `queue`, after checking that Redis answers.

    Waits up to `wait_s` for a first worker (containers started a moment ago are still
    booting), then raises NoWorkers naming the queues that do have workers, so no job is
    submitted where nobody would take it. Raises BrokerUnreachable if Redis does not answer.
    """
    check_brokers(app, timeout_s)
    deadline = time.monotonic() + wait_s
    # A Redis that restarts as the question goes out answers again within this: asked again meanwhile.
    ride_out = time.monotonic() + max(wait_s, timeout_s)
    said = False
    while True:
        try:
            online = online_workers(app)  # each call waits its own inspect timeout
        except BrokerUnreachable:
            if time.monotonic() >= ride_out:
                raise
            time.sleep(0.5)
            continue
        workers = consuming(online, queue)
        if workers or time.monotonic() >= deadline:
            break
        if not said and on_wait:
            on_wait()
            said = True
    if not workers:
        raise no_workers(queue, sorted({q for w in online for q in w.queues}))
    return workers


def wait_for_workers(app: Celery, expected: int | Collection[str], timeout_s: float,
                     check: Callable[[], None] | None = None) -> float:
    """Seconds until the named workers (or `expected` many) answer ping; LocalClusterError past `timeout_s`.

    The one wait for workers: the local cluster, the tests' fixtures and the benchmarks use it.
    Each round is one ping (Celery's remote control, 0.5 s at most), until a `time.monotonic()`
    deadline. `check` runs between pings, to fail at once when a worker has already exited.
    """
    names = None if isinstance(expected, int) else set(expected)
    want = len(names) if names is not None else expected
    start = time.monotonic()
    deadline = start + timeout_s
    while True:
        destination = sorted(names) if names is not None else None  # others need not answer
        replies = {name for reply in app.control.ping(destination, timeout=0.5, limit=want) for name in reply}
        if (names <= replies) if names is not None else len(replies) >= want:
            return time.monotonic() - start
        if check is not None:
            check()
        if time.monotonic() > deadline:
            missing = f"{', '.join(sorted(names - replies))}" if names is not None else f"{want - len(replies)} of them"
            raise LocalClusterError(f"workers did not answer ping within {timeout_s:g} s: {missing}")
