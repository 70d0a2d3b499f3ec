"""Speedup against the number of workers, measured on a running cluster without restarting it.

With N workers online, Celery's remote control (`cancel_consumer` / `add_consumer`) lets only
k of them take jobs from the queue; the same batch runs for each k. Every worker consumes the
queue again afterwards, whatever happens in between (error, Ctrl-C).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from celery import Celery
from kombu.transport.redis import Transport as RedisTransport

from cluster.errors import ProducerError
from cluster.workers import Worker
from producer.jobs import plan
from producer.results import BatchResult
from producer.submit import run_batch
from producer.views.progress import Shown


def steps(n: int) -> list[int]:
    """Worker counts to try: every one up to 8, then powers of two, and n itself."""
    if n <= 8:
        return list(range(1, n + 1))
    return sorted({k for k in (2**i for i in range(n.bit_length())) if k <= n} | {n})


@dataclass
class Point:
    """One measurement of the sweep: k workers, their slots, and what the batch took."""

    workers: int
    slots: int
    wall_s: float
    ideal_wall_s: float
    speedup: float
    ideal_speedup: float
    efficiency: float
    failed: int


#: kombu's Redis transport sends one BRPOP naming the queues a worker consumes at the time and
#: waits up to its brpop_timeout (1 s) for the reply: a queue added or cancelled meanwhile counts
#: from the next BRPOP. Jobs sent before it wait for it (a quiz scene measured 0.85 s of such
#: waiting as 'not parallel'), and a worker just cancelled can still take one.
NEXT_POLL_S = RedisTransport.brpop_timeout + 0.25


def _consuming_names(app: Celery, queue: str, everyone: list[str]) -> set[str] | None:
    """Who of `everyone` consumes `queue` now; None if not all of them answered."""
    replies = app.control.inspect(timeout=2, destination=everyone, limit=len(everyone)).active_queues() or {}
    if set(everyone) - set(replies):
        return None
    return {name for name, queues in replies.items() if any(q["name"] == queue for q in queues)}


def _switch(app: Celery, queue: str, everyone: list[str], chosen: list[str], timeout_s: float) -> bool:
    """Cancel `queue` on the workers not chosen, add it on the chosen, until every worker says so.

    Control commands are broadcasts whose replies can be lost on a busy machine: the state is
    checked with `inspect` and the commands sent again until it matches. True if anything changed.
    """
    deadline = time.monotonic() + timeout_s
    changed = False
    while True:
        consuming_now = _consuming_names(app, queue, everyone)
        if consuming_now == set(chosen):
            return changed
        changed = True
        if time.monotonic() > deadline:
            raise ProducerError(f"workers did not switch to {len(chosen)} consuming '{queue}' in {timeout_s:g} s")
        known = consuming_now if consuming_now is not None else set(everyone) - set(chosen)
        if extra := sorted(known - set(chosen)):
            app.control.cancel_consumer(queue, destination=extra, reply=True, timeout=2)
        if missing := sorted(set(chosen) - (consuming_now or set())):
            app.control.add_consumer(queue, destination=missing, reply=True, timeout=2)


@contextmanager
def only(app: Celery, queues: str | tuple[str, ...], everyone: list[str], chosen: list[str], timeout_s: float = 60,
         after: list[str] | None = None) -> Iterator[None]:
    """Let only `chosen` workers consume `queues` (one name or several) inside the block, and
    `after` ones once it ends.

    `after` is all of `everyone` by default; the quiz's own queues pass `after=[]`: nobody
    consumes them once it is done. After a change, one wait for the workers' next BRPOP
    (NEXT_POLL_S), however many queues changed.
    """
    queues = (queues,) if isinstance(queues, str) else queues
    after = everyone if after is None else after
    try:
        changed = [_switch(app, queue, everyone, chosen, timeout_s) for queue in queues]
        if any(changed):
            time.sleep(NEXT_POLL_S)
        yield
    finally:
        for queue in queues:
            if after:
                app.control.add_consumer(queue, destination=after, reply=True, timeout=2)
            if others := sorted(set(everyone) - set(after)):
                app.control.cancel_consumer(queue, destination=others, reply=True, timeout=2)


def restore(app: Celery, queue: str, everyone: list[str], timeout_s: float = 30,
            consumers: list[str] | None = None) -> set[str]:
    """Make sure `consumers` (default: every worker) and only they consume `queue`; returns the workers still wrong."""
    consumers = everyone if consumers is None else consumers
    try:
        _switch(app, queue, everyone, consumers, timeout_s)
    except ProducerError:
        now = _consuming_names(app, queue, everyone)
        return set(everyone) if now is None else now ^ set(consumers)
    return set()


def sweep(app: Celery, workers: list[Worker], queue: str, jobs: int, duration_s: float, kind: str,
          timeout_s: float, shown: Shown | None = None) -> list[Point]:
    """The same batch on 1..N of `workers`, one measurement per step (figures as in producer.figures).

    Each step is a part of `shown` (`2 of 4 workers`), the switch of consumers included: it can take seconds.
    """
    shown = shown if shown is not None else Shown()
    names = [w.name for w in workers]
    slots_of = {w.name: w.slots for w in workers}
    points = []
    for k in steps(len(names)):
        chosen = names[:k]
        with shown.part(f"{k} of {len(names)} workers", jobs), only(app, queue, names, chosen):
            collected = run_batch(app, plan(jobs, duration_s, kind, queue), timeout_s,
                                  on_result=shown.on_result, on_submitted=shown.on_submitted)
        slots = sum(slots_of[n] for n in chosen)
        batch = BatchResult.of(collected, slots_online=slots)
        s = batch.summary
        ideal = s.ideal_wall_s or 0.0
        points.append(Point(k, slots, collected.wall_s, ideal, s.speedup or 0.0,
                            jobs * duration_s / ideal if ideal else 0.0, s.efficiency or 0.0, len(batch.failed)))
    return points
