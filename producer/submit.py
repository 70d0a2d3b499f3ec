"""Submit a batch of jobs and collect their results as they arrive.

Results are awaited with Celery's native join: the Redis backend pushes each result over
pub/sub the moment it is stored, so the producer's clock (wall time) stops when the last
one lands, not at the next polling tick.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult, ResultSet
from kombu.exceptions import OperationalError

from producer.cluster import masked
from producer.errors import BrokerUnreachable
from worker.records import iso, utc_now

TASKS = ("task1", "task2")


@dataclass(frozen=True)
class Job:
    """One job to submit: which task, for how long, doing what, on which queue."""

    task: str
    duration_s: float
    kind: str = "sleep"
    queue: str = "jobs"
    fail: str | None = None  # None, "always" or "once" (see worker.records.FAIL_MODES)

    @property
    def kwargs(self) -> dict[str, Any]:
        """The task's JSON arguments."""
        kwargs: dict[str, Any] = {"duration": self.duration_s, "kind": self.kind}
        if self.fail:
            kwargs["fail"] = self.fail
        return kwargs


def picked(index: int, rate: float) -> bool:
    """Whether job `index` is among a `rate` share of jobs, spread evenly over the batch."""
    return int((index + 1) * rate) > int(index * rate)


def plan(
    jobs: int,
    duration_s: float,
    kind: str = "sleep",
    queue: str = "jobs",
    tasks: tuple[str, ...] = TASKS,
    fail_rate: float = 0.0,
    flaky_rate: float = 0.0,
) -> list[Job]:
    """`jobs` jobs cycling through `tasks` (task1, task2, ... as the course page calls them).

    A `fail_rate` share of them fail for good, a `flaky_rate` share fail once and are retried.
    """
    def fail(i: int) -> str | None:
        return "always" if picked(i, fail_rate) else "once" if picked(i, flaky_rate) else None

    return [Job(tasks[i % len(tasks)], duration_s, kind, queue, fail(i)) for i in range(jobs)]


@dataclass
class Outcome:
    """What became of one submitted job: its record on success, its error otherwise."""

    job: Job
    task_id: str
    submitted_at: datetime
    status: str = "PENDING"  # SUCCESS, FAILURE, or PENDING when it did not finish in time
    record: dict[str, Any] | None = None
    error: str | None = None
    received_at: datetime | None = None  # when the producer got the result

    def as_json(self) -> dict[str, Any]:
        """The result record with submitted_at and status added (the `--json` form)."""
        base = {"task": self.job.task, "task_id": self.task_id} if self.record is None else dict(self.record)
        base["submitted_at"] = iso(self.submitted_at)
        if self.received_at is not None:
            base["received_at"] = iso(self.received_at)
        base["status"] = self.status
        if self.error is not None:
            base["error"] = self.error
        return base


@dataclass
class Batch:
    """A submitted batch: its outcomes in submission order and the producer's wall time."""

    outcomes: list[Outcome]
    wall_s: float
    submit_s: float

    @property
    def failed(self) -> list[Outcome]:
        """Jobs that failed or did not finish in time."""
        return [o for o in self.outcomes if o.status != "SUCCESS"]


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
    probe = app.AsyncResult(f"warm-up-{uuid.uuid4()}")  # starts the result listener
    try:
        probe.get(timeout=0.001, interval=0.001)
    except CeleryTimeout:
        pass
    finally:
        app.backend.remove_pending_result(probe)


def run_batch(
    app: Celery,
    jobs: list[Job],
    timeout_s: float,
    on_result: Callable[[Outcome], None] | None = None,
) -> Batch:
    """Submit `jobs`, wait up to `timeout_s` for all results, and return every outcome.

    A job that fails or does not finish in time is recorded as such; the others are kept.
    """
    outcomes: dict[str, Outcome] = {}
    results: list[AsyncResult] = []
    try:
        for queue in sorted({job.queue for job in jobs}):
            warm_up(app, queue)
        start = time.perf_counter()
        for job in jobs:
            submitted_at = utc_now()
            result = app.send_task(job.task, kwargs=job.kwargs, queue=job.queue)
            outcomes[result.id] = Outcome(job, result.id, submitted_at)
            results.append(result)
    except OperationalError as exc:
        raise BrokerUnreachable(f"lost Redis at {masked(app.conf.broker_url)} while submitting: {exc}") from None
    submit_s = time.perf_counter() - start
    last = start

    def collect(task_id: str, value: Any) -> None:
        nonlocal last
        last = time.perf_counter()
        outcome = outcomes[task_id]
        outcome.received_at = utc_now()
        if isinstance(value, dict):  # a result record; a failure arrives as the exception
            outcome.status, outcome.record = "SUCCESS", value
        else:
            outcome.status, outcome.error = "FAILURE", describe_error(value)
        if on_result:
            on_result(outcome)

    try:
        # interval: Celery's native join first polls the backend once and then sleeps
        # `interval` (0.5 s by default) before listening on pub/sub; measured, 2 x 0.05 s
        # jobs took 0.51 s of wall time with the default and 0.11 s with 1 ms.
        ResultSet(results).join_native(timeout=timeout_s, propagate=False, callback=collect, interval=0.001)
    except CeleryTimeout:
        for outcome in outcomes.values():
            if outcome.status == "PENDING":
                outcome.error = f"did not finish within {timeout_s:g} s"
    except OperationalError as exc:
        raise BrokerUnreachable(f"lost Redis at {masked(app.conf.result_backend)} while waiting: {exc}") from None
    finally:
        # Stop listening for these results now. Left to AsyncResult.__del__, the unsubscribe
        # would run at interpreter exit (after Ctrl-C, say) and print a stray traceback.
        for result in results:
            app.backend.remove_pending_result(result)
    return Batch([outcomes[r.id] for r in results], wall_s=last - start, submit_s=submit_s)
