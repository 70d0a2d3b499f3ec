"""task1 and task2 from the course page, each reporting who ran it and when.

On the course page each function sleeps one second and prints "task1 finished at <time>".
Here each returns a result record instead, so the producer can print that line and prove,
from the timestamps, whether the jobs ran at the same time.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

import redis
from celery import Task, states
from celery.exceptions import Ignore
from celery.utils.log import get_task_logger
from celery.worker import state as worker_state
from celery.worker.consumer import Consumer
from celery.worker.request import Request
from celery.worker.state import active_requests, reserved_requests

from settings import current
from worker import app, runs
from worker.burn import burn_cpu
from worker.errors import JobFailed, TransientJobError, WorkerLost
from worker.placement import machine_id, pool_kind, slot_id, usable_cpus
from worker.records import (
    CUP_WAIT_MAX_S,
    JobRecord,
    check_cup,
    check_cup_name,
    check_duration,
    check_fail,
    check_kind,
    utc_now,
)

logger = get_task_logger(__name__)
T = TypeVar("T")

DEFAULT_DURATION_S = 1.0

#: Set as a cold shutdown cancels what runs (JobConsumer.cancel_active_requests), before Celery's flags.
_cold_shutdown = threading.Event()


def why_cancelled() -> str:
    """Why Celery cancels or drops a job now: its worker stops (a cold shutdown cuts what runs, a
    warm one puts back what waits), or it lost Redis."""
    # Celery sets them to the exit code (0 for a clean warm shutdown): None or False means not stopping
    stopping = _cold_shutdown.is_set() or any(flag is not None and flag is not False  # by identity: 0 == False
                                              for flag in (worker_state.should_stop, worker_state.should_terminate))
    return runs.PUT_BACK if stopping else runs.CANCELLED


def note_cancelled(task_id: str, node: str, run: datetime | None, give_up_s: float = 120.0) -> None:
    """Mark the run `node` had of this job (the one claimed at `run`; None: every run of it there, as
    Celery cancels them all at once) interrupted, from a thread that keeps trying while Redis is away
    (this is called because the worker just lost it, or stops)."""
    at, why = utc_now(), why_cancelled()

    def write() -> None:
        deadline = time.monotonic() + give_up_s
        while True:
            try:
                runs.record_interruption(app.backend.client, [task_id], node, run, why, at, app.conf.result_expires)
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    logger.warning("job %s: could not mark its cancelled run in its run list", task_id)
                    return
                time.sleep(1)

    threading.Thread(target=write, name=f"note-cancelled-{task_id[:8]}", daemon=True).start()


class JobRequest(Request):
    """A job as the worker's main process handles it. Celery cancels a running job when the
    worker loses Redis (worker_cancel_long_running_tasks_on_connection_loss: it is put back and
    runs again); its run is then marked interrupted, so it does not count as a job that took
    its worker down."""

    def cancel(self, pool: Any, signal: Any = None, emit_retry: bool = True) -> None:
        running = bool(self.time_start and self.worker_pid)
        super().cancel(pool, signal=signal, emit_retry=emit_retry)  # raises where the pool cannot (threads)
        claimed = self.claimed()
        if claimed is not None:  # its claim recorded the run, started or not
            note_cancelled(self.id, claimed.run.worker, claimed.run.started_at)
        elif running:  # the pool process recorded it (the results on another Redis)
            note_cancelled(self.id, self.hostname, None)

    def claimed(self) -> runs.Claimed | None:
        """The run its worker's claim recorded (worker/layout.py's CLAIM), if it did."""
        return runs.Claimed.from_header(self.request_dict.get(runs.CLAIM_HEADER))

    def send_event(self, type: str, **fields: Any) -> None:  # noqa: A002  (Celery's name)
        """Celery's, but a job's start is sent at once with what is held (JobConsumer holds task events):
        the lanes and Flower show it run without waiting, and a worker killed right after has told it."""
        super().send_event(type, **fields)
        if type == "task-started" and self._eventer is not None and self._eventer.enabled:
            self._eventer.flush(errors=False)


#: Seconds a worker holds its task events (received, succeeded, ...) before it sends them,
#: together, as one `task.multi` message. Celery sends them at its event loop's next turn: a
#: message of one or two events, three messages a job, each a PUBLISH that the worker pays for
#: and that Flower and every live view decode on their own. Held, a busy worker's events of
#: many jobs go in one (at most 24: Celery's buffer limit sends them at once). A job's start is
#: not held (JobRequest.send_event): it goes at once, with what was held. Cost: Flower and the
#: live view see a reception or an end up to this much later.
TASK_EVENTS_HELD_S = 0.1


class JobConsumer(Consumer):
    """Celery's consumer. When its connection to Redis is lost it cancels the jobs that run
    (JobRequest.cancel) and drops the ones it had reserved and not started yet, which Redis
    hands out again: their runs, recorded by the claim, are marked cancelled too, not deaths.
    Its task events are sent TASK_EVENTS_HELD_S after the first one waits, not at the next turn."""

    _task_events_due = 0.0  # time.monotonic() when the held task events are sent (0: none held)

    def on_send_event_buffered(self) -> None:
        """Celery's: a task event was buffered. The buffer is sent once, TASK_EVENTS_HELD_S from the first.

        Called from pool threads too (the threads flavour sends a job's end from its thread): the
        hold starts on the event loop's own thread, through `call_soon`, which is thread-safe and
        wakes the loop. A send whose timer was dropped is asked again by the next event after it was due."""
        now = time.monotonic()
        if self.hub is None or now < self._task_events_due:
            return
        self._task_events_due = now + TASK_EVENTS_HELD_S
        self.hub.call_soon(self._hold_task_events)

    def _hold_task_events(self) -> None:
        self.hub.call_later(TASK_EVENTS_HELD_S, self._send_held_task_events)

    def _send_held_task_events(self) -> None:
        self._task_events_due = 0.0
        self._flush_events()

    def _keep_held_task_events(self) -> None:
        """The connection is lost: the task events held move to what Celery's next dispatcher takes over
        and sends first (its buffer of events it could not send; `extend_buffer`), as one message, and
        the next event starts a new hold. Celery's internals, no I/O: the connection may hang."""
        self._task_events_due = 0.0
        dispatcher = self.event_dispatcher
        if dispatcher is None:
            return
        with dispatcher.mutex:
            for group, events in dispatcher._group_buffer.items():
                if events:
                    dispatcher._outbound_buffer.append((list(events), f"{group}.multi"))
                    events.clear()

    def shutdown(self) -> None:
        """Send the task events still held before Celery closes its dispatcher: a job's end is told."""
        self._flush_events()
        super().shutdown()

    def cancel_active_requests(self) -> None:
        """Celery's cancel of what runs, called by its cold (and soft) shutdown only."""
        _cold_shutdown.set()
        super().cancel_active_requests()

    def on_close(self) -> None:
        self._keep_held_task_events()
        for request in [r for r in tuple(reserved_requests) if r not in active_requests]:
            if isinstance(request, JobRequest) and (claimed := request.claimed()) is not None:
                note_cancelled(request.id, claimed.run.worker, claimed.run.started_at)
        super().on_close()


#: Shared by task1 and task2. A transient error is retried up to 3 times, after about
#: 1, 2, 4 s (with jitter, so retries of many jobs do not land at the same instant).
JOB_OPTIONS: dict[str, Any] = {
    "bind": True,
    "autoretry_for": (TransientJobError,),
    "retry_backoff": 1,
    "retry_backoff_max": 10,
    "retry_jitter": True,
    "max_retries": 3,
    "Request": JobRequest,
}


def spend(seconds: float, kind: str) -> None:
    """Take `seconds` the way `kind` says: sleep (no CPU) or burn pure-Python CPU."""
    if kind == "cpu":
        burn_cpu(seconds)
    else:
        time.sleep(seconds)


@lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    """One client (and connection pool) per worker process for the cup's lock."""
    return redis.Redis.from_url(url)


@contextmanager
def holding_cup(name: str, hold_s: float) -> Iterator[datetime]:
    """Hold the one cup (a Redis lock shared by every worker) inside the block; yields when it was taken.

    The lock expires `hold_s` + 10 s after it was taken, so a worker killed while drinking
    never keeps the cup from the others for good.
    """
    lock = _redis(app.conf.broker_url).lock(f"cup:{name}", timeout=hold_s + 10, sleep=0.005,
                                            blocking_timeout=CUP_WAIT_MAX_S)
    if not lock.acquire():
        raise JobFailed(f"the cup '{name}' was not free within {CUP_WAIT_MAX_S:g} s")
    try:
        yield utc_now()
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:  # expired meanwhile (a very slow job): someone else may drink
            logger.warning("the cup '%s' was taken back before this job gave it back", name)


#: Seconds a finished run keeps trying to write its finish while Redis is out of reach (a host
#: cut off, Redis restarting), so a fenced copy's end is on record, and said, when it is back.
FINISH_RETRY_S = 60.0


def bookkeeping(write: Callable[..., T], client: Any, task_id: str, *args: Any,
                retry_s: float = 0.0) -> T | bool | None:
    """Keep the run list, never at the job's expense: a Redis error (a host cut off, Redis
    restarting) is tried again for `retry_s` seconds, then logged, and returns None; the job's
    own outcome stands. What `write` returns, else True."""
    deadline, delay = time.monotonic() + retry_s, 0.5
    while True:
        try:
            result = write(client, task_id, *args)
        except redis.RedisError as exc:
            if time.monotonic() + delay < deadline:
                time.sleep(delay)
                delay = min(2 * delay, 5.0)
                continue
            logger.warning("job %s: its run list could not be written (%s: %s); the job goes on, its runs may be "
                           "under-counted", task_id, type(exc).__name__, exc)
            return None
        return result if result is not None else True


def stored_result(task: Task, value: Any) -> runs.Result:
    """The result Celery's Redis backend would store for `value` (its key, encoded state, expiry): what
    the run's finish stores in the same step (runs.FINISH) in place of Celery's own two round trips."""
    backend = task.backend
    meta = backend._get_result_meta(result=backend.encode_result(value, states.SUCCESS), state=states.SUCCESS,
                                    traceback=None, request=task.request)
    meta["task_id"] = task.request.id
    return runs.Result(backend.get_key_for_task(task.request.id), backend.encode(meta), backend.expires)


@dataclass(frozen=True)
class Spent:
    """How a job's time went: its clock, CPU, and the cup's share of it (JobRecord's fields)."""

    started_at: datetime
    finished_at: datetime
    runtime_s: float
    cpu_s: float
    waited_for_cup_s: float = 0.0
    cup_s: float = 0.0


def spend_timed(seconds: float, kind: str, share: float, cup_name: str | None) -> Spent:
    """Spend `seconds` the way `kind` says, the last `share` of it holding the cup `cup_name`; timed.

    The part that needs no cup runs side by side with the others; then the job waits its turn
    for the cup, drinks and gives it back. The clock stops before the cup goes back: the next
    drinker starts after this one finished.
    """
    started_at, t0, cpu0 = utc_now(), time.perf_counter(), time.thread_time()
    if not share:
        spend(seconds, kind)
        return Spent(started_at, utc_now(), time.perf_counter() - t0, time.thread_time() - cpu0)
    spend(seconds * (1 - share), kind)
    # Wall-clock times, like started_at and finished_at: the record places the wait and the
    # drinking from them (JobRecord.cup_wait).
    waiting_from = utc_now()
    with holding_cup(cup_name or "", seconds * share) as drinking_from:
        spend(seconds * share, kind)
        runtime_s, cpu_s, finished_at = time.perf_counter() - t0, time.thread_time() - cpu0, utc_now()
    return Spent(started_at, finished_at, runtime_s, cpu_s, (drinking_from - waiting_from).total_seconds(),
                 (finished_at - drinking_from).total_seconds())


def this_run(task: Task, client: Any) -> tuple[runs.Run, list[runs.Run] | None]:
    """This run of the job, and the runs recorded before it (None: the run list could not be read).

    The worker's claim wrote the start (worker/layout.py's CLAIM) and handed both over in a
    header; with the results on another Redis than the jobs, the start is written here.
    """
    request = task.request
    claimed = runs.Claimed.from_header(request.get(runs.CLAIM_HEADER))
    if claimed is not None:
        return replace(claimed.run, pid=os.getpid()), claimed.before
    run = runs.Run(request.hostname or socket.gethostname(), os.getpid(), request.retries + 1, utc_now())
    before = bookkeeping(runs.record_start, client, request.id, run, app.conf.result_expires)
    return run, before if isinstance(before, list) else None


def refuse_a_poison_job(task: Task, client: Any, run: runs.Run, lost: list[runs.Run]) -> None:
    """A job whose earlier runs took their worker down RECOVERY_MAX_DEATHS times is not run again:
    this run ends at once, and the job fails with WorkerLost."""
    if len(lost) < current().recovery_max_deaths:
        return
    bookkeeping(runs.record_finish, client, task.request.id, run, utc_now(), app.conf.result_expires)
    where = ", ".join(r.worker for r in lost)
    raise WorkerLost(f"{task.name} took its worker down {len(lost)} times ({where}); not run again")


def run_job(task: Task, duration: Any, kind: Any, fail: Any = None, cup: Any = None,
            cup_name: Any = None) -> dict[str, Any]:
    """Spend `duration` seconds the way `kind` says, and return the result record.

    With `cup` (a share, 0 to 1), that last part of the duration needs the one cup named
    `cup_name`: the job waits its turn for it, drinks, and gives it back.
    Arguments are checked first, so a bad one fails the job at once with a clear message.
    The steps: check, this run (and a poison job refused), spend, record, then the finish
    with the result in one Redis step (`finish`).
    """
    seconds, kind, fail, share = check_duration(duration), check_kind(kind), check_fail(fail), check_cup(cup)
    cup_name = check_cup_name(cup_name) if share else None
    request = task.request
    client = task.backend.client  # the results database: runs:<id> lives beside the result
    run, before = this_run(task, client)
    lost = runs.never_finished(before or [], run.attempt)
    refuse_a_poison_job(task, client, run, lost)
    if fail == "crash":  # the whole process dies at once, with no chance to clean up
        os.kill(os.getpid(), signal.SIGKILL)
    # The job's clock starts after that bookkeeping: its Redis round trip lets another greenlet
    # (gevent) run, which must not count as this job running.
    spent = spend_timed(seconds, kind, share, cup_name)
    # kombu's Redis transport marks a job it put back in the queue (worker lost, visibility
    # timeout) in the message headers, which Celery copies onto the request; an earlier run
    # that never finished says the same, even where the flag was lost.
    redelivered = bool((request.delivery_info or {}).get("redelivered") or getattr(request, "redelivered", False)
                       or lost)
    pool = pool_kind()
    record = JobRecord(
        task=task.name, task_id=request.id, kind=kind, duration_s=seconds,
        worker=request.hostname or socket.gethostname(), hostname=socket.gethostname(), pid=os.getpid(),
        slot=slot_id(pool), pool=pool, cpus=usable_cpus(), machine=machine_id(),
        started_at=spent.started_at, finished_at=spent.finished_at, runtime_s=spent.runtime_s, cpu_s=spent.cpu_s,
        attempt=run.attempt, redelivered=redelivered, cup=share, waited_for_cup_s=spent.waited_for_cup_s,
        cup_s=spent.cup_s, run_list_gap=before is None,
    )
    return finish(task, client, run, record, fail)


def finish(task: Task, client: Any, run: runs.Run, record: JobRecord, fail: str | None) -> dict[str, Any]:
    """The run's finish and, but for a failure (which Celery stores), the result, in one Redis step
    (runs.FINISH); the record returned, or the failure asked for raised.

    A run fenced off meanwhile (another copy was handed on, and that one counts) raises Ignore:
    its end is on record, its outcome is not.
    """
    request = task.request
    failure: Exception | None = None
    if fail == "always":  # the record rides along, so the producer can draw the failed job
        failure = JobFailed(f"{task.name} was asked to fail (attempt {record.attempt})", record.to_json())
    elif fail == "once" and record.attempt == 1:
        failure = TransientJobError(f"{task.name} failed on its first attempt, as asked; it will be retried")
    result = None if failure else stored_result(task, record.to_json())
    ended = bookkeeping(runs.record_finish, client, request.id, run, record.finished_at, app.conf.result_expires,
                        result, retry_s=FINISH_RETRY_S)
    if isinstance(ended, str):
        logger.warning("%s %s: this run was %s before it finished; its end is on record (a duplicate if the copy "
                       "handed on finishes too), its outcome is not: the job's result is that copy's",
                       task.name, request.id, ended)
        raise Ignore()
    if failure is not None:
        raise failure
    if ended is None:  # its finish not written (Redis out of reach): Celery stores the result, as it can
        record = replace(record, run_list_gap=True)
    else:  # stored with the finish: Celery's own write would be a second one (mark_as_done reads this)
        request.ignore_result = True
    # The course page's own line, in the worker's log (docker compose logs worker).
    logger.info("%s finished at %s (%s pid %s)", task.name, record.finished_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                record.worker, record.pid)
    return record.to_json()


@app.task(name="task1", **JOB_OPTIONS)
def task1(self: Task, duration: float = DEFAULT_DURATION_S, kind: str = "sleep", fail: str | None = None,
          cup: float | None = None, cup_name: str | None = None) -> dict[str, Any]:
    """The course page's task1: takes `duration` seconds, then says who ran it and when."""
    return run_job(self, duration, kind, fail, cup, cup_name)


@app.task(name="task2", **JOB_OPTIONS)
def task2(self: Task, duration: float = DEFAULT_DURATION_S, kind: str = "sleep", fail: str | None = None,
          cup: float | None = None, cup_name: str | None = None) -> dict[str, Any]:
    """The course page's task2: the same work as task1, so the two can run side by side."""
    return run_job(self, duration, kind, fail, cup, cup_name)

