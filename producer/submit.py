"""Submit a batch of jobs, collect their results as they arrive, and leave nothing behind.

Jobs are published through one Redis pipeline (kombu's `Producer.batch()`): each message
and its task-sent event are exactly what `send_task` publishes, built by `send_task` itself,
but they reach Redis in a few round trips instead of one per job, and the events of a flush
travel as one `task.multi` message, as a worker's task events do (`SentEvents`). Results are awaited with
Celery's native join: the Redis backend pushes each result over
pub/sub the moment it is stored, so the producer's clock (wall time) stops when the last
one lands, not at the next polling tick. A batch that is interrupted or runs out of time
withdraws its jobs that have not started, so the next run does not wait behind them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import redis
from celery import Celery
from celery.events import Event
from celery.events.dispatcher import EventDispatcher
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult, ResultSet
from kombu.exceptions import BatchPublishError, OperationalError

from cluster.errors import BrokerUnreachable, Interrupted
from cluster.queues import withdraw
from cluster.workers import masked
from producer.inflight import InFlightWatch
from producer.jobs import TASKS, Job, Outcome, Status, plan
from producer.jobs import failed as failed_of
from producer.jobs import withdrawn as withdrawn_of
from worker.errors import JobFailed
from worker.records import JobRecord, utc_now
from worker.runs import duplicate_runs, read_runs

T = TypeVar("T")

log = logging.getLogger("producer.submit")

__all__ = ["TASKS", "Collected", "Job", "Outcome", "plan", "run_batch"]


@dataclass
class Collected:
    """What `run_batch` collected of one batch: every outcome in submission order, the producer's wall time.

    Raw, as the producer and the workers stamped it (each record on its worker's clock), no
    figures: producer.results.BatchResult.of turns it into the finished result (story, summary).
    """

    outcomes: list[Outcome]
    wall_s: float
    submit_s: float

    @property
    def failed(self) -> list[Outcome]:
        """Jobs that failed, did not finish in time, or were withdrawn."""
        return failed_of(self.outcomes)

    @property
    def withdrawn(self) -> list[Outcome]:
        return withdrawn_of(self.outcomes)


def describe_error(value: BaseException | Any) -> str:
    """`ExceptionType: message`, as a job's error is shown to the user."""
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return repr(value)


def warm_up(app: Celery, queue: str) -> None:
    """Open the connections the first submit would otherwise open on the clock.

    Measured here: the first send_task took 99 ms cold and 5.5 ms after this warm-up
    (every later one 1.3 ms), which would have counted against the wall time.
    """
    with app.producer_or_acquire() as producer:
        app.amqp.queues[queue](producer.channel).declare()
    # Starts the result listener (its connection, subscribed). Not `get(timeout=0.001)`: Celery
    # waits its first second-long interval for a result that never comes before it checks the
    # timeout: a whole second before the first job (measured: 1.05 s of a 3.2 s demo).
    probe = app.AsyncResult(f"warm-up-{uuid.uuid4()}")
    app.backend.add_pending_result(probe)
    app.backend.remove_pending_result(probe)


#: The most messages one pipeline flush carries. The first job goes out alone, so a worker
#: starts at once; each flush then doubles (1, 2, 4, ...), so 32 idle workers all have a job
#: after 6 round trips and 256 jobs take 9. Measured here: 256 jobs submitted at 870-930
#: jobs/s one round trip each, 1,600-2,650 jobs/s pipelined (2,580 without the declare check).
FLUSH_MAX = 128

#: The longest a built message waits for its flush. Building a message takes 0.4 ms on an idle
#: machine (128 in 50 ms); under load, with the cores busy running the jobs, a flush of 128
#: took 250 ms to fill, and its jobs and task-sent events waited that long to reach Redis
#: (task-sent delivery p50 280 ms in the live view's benchmark at 32 workers, issue #32). A
#: flush also goes when its first message is this old, and the next one takes the next size
#: (flush_sizes): a few more round trips under load; on an idle machine about as many.
FLUSH_AFTER_S = 0.05


def flush_sizes() -> Iterator[int]:
    """Messages per flush: 1, 2, 4, ... up to FLUSH_MAX, then FLUSH_MAX for ever."""
    size = 1
    while True:
        yield size
        size = min(2 * size, FLUSH_MAX)


@dataclass
class Submission:
    """What submit() has published so far: `outcomes` in submission order.

    `reached` counts the first outcomes whose messages may be in Redis: those flushed, plus
    those of a flush that was interrupted (delivery uncertain). The rest never left the
    producer.
    """

    outcomes: dict[str, Outcome]
    results: list[AsyncResult]
    reached: int = 0

    def sent(self) -> dict[str, Outcome]:
        """The outcomes of the jobs whose messages may be in Redis, by task id."""
        return {r.id: self.outcomes[r.id] for r in self.results[: self.reached]}


class SentEvents(EventDispatcher):
    """The task-sent events `send_task` builds for a batch, gathered to ride its pipeline as one
    `task.multi` message per flush, as a worker's task events do (Celery's receivers, Flower's and
    the live view's, read both), instead of one PUBLISH each that every follower decodes on its own.

    Celery's dispatcher builds each event (`_prepare_event`: host, pid, clock, timestamp); it never
    connects (disabled): what it gathered goes out through the batch's producer (`publish_gathered`).
    """

    def __init__(self, app: Celery, connection: Any) -> None:
        super().__init__(connection=connection, app=app, enabled=False)
        self.gathered: list[dict[str, Any]] = []

    def publish(self, type: str, fields: dict[str, Any], producer: Any, blind: bool = False,  # noqa: A002
                Event: Callable[..., dict[str, Any]] = Event, **_: Any) -> None:  # noqa: N803  (Celery's names)
        """What send_task calls for each job's task-sent event: kept for the flush."""
        self.gathered.append(self._prepare_event(type, fields, blind=blind, Event=Event))

    def publish_gathered(self, producer: Any) -> None:
        """Publish the gathered events as one `task.multi` message through `producer` (the batch's)."""
        if self.gathered:
            events, self.gathered = self.gathered, []
            with self.mutex:
                self._publish(events, producer, "task.multi")


def submit(app: Celery, jobs: list[Job], into: Submission,
           on_flushed: Callable[[int], None] | None = None) -> None:
    """Publish `jobs` in as few round trips as the transport allows, recording each in `into`.

    `send_task` builds and publishes every message (routing, headers, the task-sent event
    for Flower), through the producer's batch: kombu buffers the LPUSHes in a pipeline, and the
    flush's task-sent events go last, as one PUBLISH (`SentEvents`). A flush goes when it holds its
    size (`flush_sizes`) or its first message is FLUSH_AFTER_S old. `submitted_at` is when each
    message was built. On a transport that cannot batch, kombu publishes each message at once:
    the same messages, one round trip each.
    `on_flushed` is told how many jobs are in Redis after each flush (100,000 jobs take a minute).
    """
    sizes = flush_sizes()
    due = next(sizes)
    told = 0
    first_held: float | None = None  # time.monotonic() when the coming flush's first message was built
    with app.producer_or_acquire() as producer, producer.batch(max_size=4 * FLUSH_MAX) as pipeline:
        sent_events = SentEvents(app, producer.connection)
        for job in jobs:
            submitted_at = utc_now()
            if first_held is None:
                first_held = time.monotonic()
            # declare=[]: a job goes to its queue's Redis list by name (direct routing), declared
            # or not, and warm_up declared it once anyway; kombu would otherwise check its declare
            # cache (copying and binding the queue) for every message: 1,700 -> 2,580 jobs/s alone
            # (256 jobs, loopback, medians of 5)
            result = app.send_task(job.task, kwargs=job.kwargs, queue=job.queue, producer=producer, declare=[],
                                   event_dispatcher=sent_events)
            into.outcomes[result.id] = Outcome(job, result.id, submitted_at)
            into.results.append(result)
            if len(into.results) == due or time.monotonic() - first_held >= FLUSH_AFTER_S:
                into.reached = len(into.results)
                sent_events.publish_gathered(producer)
                pipeline.flush()
                due = into.reached + next(sizes)
                first_held = None
                if on_flushed:
                    on_flushed(told := into.reached)
        into.reached = len(into.results)  # leaving the block flushes the rest
        sent_events.publish_gathered(producer)
    if on_flushed and into.reached != told:
        on_flushed(into.reached)


def withdraw_pending(app: Celery, outcomes: dict[str, Outcome]) -> tuple[int, int]:
    """Withdraw every job of ours that has no result yet; returns (withdrawn, still running or reserved).

    Each job withdrawn gets a new outcome in `outcomes`, WITHDRAWN.
    """
    pending = [o for o in outcomes.values() if o.status == Status.PENDING]
    removed: set[str] = set()
    for queue in sorted({o.job.queue for o in pending}):
        removed |= withdraw(app, queue, [o.task_id for o in pending if o.job.queue == queue])
    for o in pending:
        if o.task_id in removed:
            outcomes[o.task_id] = replace(o, status=Status.WITHDRAWN,
                                          error="withdrawn from the queue before it started")
    return len(removed), len(pending) - len(removed)


def with_result(outcome: Outcome, value: Any, received_at: datetime) -> Outcome:
    """`outcome` once its result arrived: SUCCESS with the record returned, or FAILURE with the error raised."""
    if isinstance(value, BaseException):  # a failure arrives as the exception
        record = JobRecord.from_json(value.record) if isinstance(value, JobFailed) and value.record else outcome.record
        return replace(outcome, status=Status.FAILURE, error=describe_error(value), record=record,
                       received_at=received_at)
    # our tasks return a result record; bare Celery's (benchmarks.bare_app) nothing
    record = JobRecord.from_json(value) if isinstance(value, dict) else None
    return replace(outcome, status=Status.SUCCESS, record=record, received_at=received_at)


def finished_meanwhile(app: Celery, outcomes: list[Outcome]) -> int:
    """How many of these jobs (no result received yet) have a result stored: they finished, we had not read it.

    One pipelined EXISTS per job on the result backend, so 20,000 jobs cost a few round trips.
    """
    backend = app.backend
    try:
        pipe = backend.client.pipeline(transaction=False)
        for outcome in outcomes:
            pipe.exists(backend.get_key_for_task(outcome.task_id))
        return sum(bool(n) for n in pipe.execute())
    except Exception:  # noqa: BLE001  (a count we cannot make is not worth a second error)
        return 0


def _interrupted(app: Celery, outcomes: dict[str, Outcome]) -> Interrupted:
    try:
        withdrawn, _ = withdraw_pending(app, outcomes)
    except BrokerUnreachable as exc:
        return Interrupted(f"interrupted; could not withdraw the queued jobs: {exc}")
    # neither withdrawn nor received: finished or running
    left = [o for o in outcomes.values() if o.status == Status.PENDING]
    meanwhile = finished_meanwhile(app, left)
    # finished before Ctrl-C
    received = sum(1 for o in outcomes.values() if o.status not in (Status.PENDING, Status.WITHDRAWN))
    return Interrupted.after(withdrawn, received + meanwhile, len(left) - meanwhile)


def _forget(app: Celery, results: list[AsyncResult]) -> None:
    """Stop listening for these results now.

    Left to AsyncResult.__del__, the unsubscribe would run at interpreter exit (after
    Ctrl-C, say) and print a stray traceback.
    """
    for result in results:
        app.backend.remove_pending_result(result)


#: How long the producer waits for a Redis that went away while it waited for results.
REDIS_BACK_S = 30.0


def _redis_back(app: Celery, until: float) -> bool:
    """Whether the result backend's Redis answers PING again before `until` (monotonic)."""
    while time.monotonic() < until:
        try:
            app.backend.client.ping()
            return True
        except (redis.RedisError, OSError):
            time.sleep(0.5)
    return False


def riding_out_a_restart(app: Celery, step: Callable[[], T]) -> T:
    """`step()`, once more if Redis went away under it (restarted) and answers again within
    REDIS_BACK_S: what a producer does before its jobs are out (look at the queue, warm up) is
    safe to repeat. Still away: BrokerUnreachable."""
    try:
        return step()
    except (redis.ConnectionError, redis.TimeoutError, ConnectionError, BrokerUnreachable, OperationalError) as exc:
        if not _redis_back(app, time.monotonic() + REDIS_BACK_S):
            raise BrokerUnreachable(f"lost Redis at {masked(app.conf.broker_url)} and it did not answer again "
                                    f"within {REDIS_BACK_S:g} s: {exc}") from None
        return step()


def run_batch(
    app: Celery,
    jobs: list[Job],
    timeout_s: float,
    on_result: Callable[[Outcome], None] | None = None,
    on_submitted: Callable[[int], None] | None = None,
) -> Collected:
    """Submit `jobs`, wait up to `timeout_s` for all results, and return every outcome.

    `on_submitted` is told how many jobs are in Redis as they go out, `on_result` each outcome as it arrives.
    A job that fails or does not finish in time is recorded as such; the others are kept.
    On timeout the jobs still in the queue are withdrawn (status WITHDRAWN); on Ctrl-C they
    are withdrawn too and Interrupted is raised, saying how many.
    """
    submission = Submission({}, [])
    outcomes, results = submission.outcomes, submission.results
    start = time.perf_counter()
    try:
        for queue in sorted({job.queue for job in jobs}):
            riding_out_a_restart(app, partial(warm_up, app, queue))
        start = time.perf_counter()
        submit(app, jobs, submission, on_flushed=on_submitted)
    except (OperationalError, BatchPublishError) as exc:
        _forget(app, results)
        cause = exc.__cause__ or exc
        raise BrokerUnreachable(f"lost Redis at {masked(app.conf.broker_url)} while submitting: {cause}") from None
    except KeyboardInterrupt:
        _forget(app, results)
        raise _interrupted(app, submission.sent()) from None
    submit_s = time.perf_counter() - start
    last = start

    lock = threading.Lock()  # the in-flight watch puts new outcomes into `outcomes` too, from its thread

    def collect(task_id: str, value: Any) -> None:
        nonlocal last
        last = time.perf_counter()
        received_at = utc_now()
        with lock:
            outcome = outcomes[task_id] = with_result(outcomes[task_id], value, received_at)
        if on_result:
            on_result(outcome)

    deadline = time.monotonic() + timeout_s
    try:
        while True:
            waiting = [r for r in results if outcomes[r.id].status == Status.PENDING]
            try:
                # interval: Celery's native join first polls the backend once and then sleeps
                # `interval` (0.5 s by default) before listening on pub/sub; measured, 2 x 0.05 s
                # jobs took 0.51 s of wall time with the default and 0.11 s with 1 ms.
                with InFlightWatch(app, outcomes, lock):  # a job a dying worker took off the queue: sent again
                    ResultSet(waiting).join_native(timeout=max(0.001, deadline - time.monotonic()),
                                                   propagate=False, callback=collect, interval=0.001)
                break
            except (redis.ConnectionError, ConnectionError) as exc:
                # Redis went away while we listened (killed, restarted) and Celery's own reconnect
                # gave up first: wait for it to answer, then listen again for the jobs still out
                if not _redis_back(app, min(deadline, time.monotonic() + REDIS_BACK_S)):
                    raise OperationalError(str(exc)) from None
    except CeleryTimeout:
        # the wall runs until the producer stopped waiting, not to the last result that came (none, maybe)
        last, given_up_at = time.perf_counter(), utc_now()
        withdraw_pending(app, outcomes)
        for outcome in list(outcomes.values()):
            if outcome.status == Status.PENDING:
                outcomes[outcome.task_id] = replace(outcome, error=f"did not finish within {timeout_s:g} s",
                                                    given_up_at=given_up_at)
    except OperationalError as exc:
        raise BrokerUnreachable(f"lost Redis at {masked(app.conf.result_backend)} while waiting: {exc}") from None
    except KeyboardInterrupt:
        raise _interrupted(app, outcomes) from None
    finally:
        _forget(app, results)
    note_duplicates(app, outcomes)
    return Collected([outcomes[r.id] for r in results], wall_s=last - start, submit_s=submit_s)


def note_duplicates(app: Celery, outcomes: dict[str, Outcome]) -> None:
    """Give each job in `outcomes` a new outcome with its run list, marking each that ran more than once
    (the result backend keeps one result per id, so only the jobs' own run lists tell): `ran_twice`
    lists where and when. A Redis that restarts meanwhile is waited for (`riding_out_a_restart`), so
    a duplicate is not left out of the report for a restart (the nemesis run met one); one that
    stays away is said, not hidden."""
    try:
        found = riding_out_a_restart(app, lambda: read_runs(app.backend.client, list(outcomes)))
    except Exception as exc:  # noqa: BLE001  (a report without this check beats no report)
        log.warning("could not read the jobs' run lists (%s): a job that ran twice is not counted in this report",
                    exc)
        return
    for outcome in list(outcomes.values()):
        runs = tuple(found.get(outcome.task_id, []))
        outcomes[outcome.task_id] = replace(outcome, runs=runs, ran_twice=tuple(duplicate_runs(runs)))
