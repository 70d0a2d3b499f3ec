"""The jobs of a batch and what became of them: pure data, no I/O.

`plan` says what to submit; an `Outcome` holds one job's fate, with its result record
parsed once into a typed `JobRecord` (worker.records), its run list (worker.runs), and, when
the cluster's events were followed, what they saw of it (`Seen`, merged in by producer.story).
`Outcome.attempts` tells every run of the job other than its record's, from both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from celery import states

from worker import runs as run_list
from worker.records import JobRecord, iso
from worker.runs import Run

TASKS = ("task1", "task2")


@dataclass(frozen=True)
class Job:
    """One job to submit: which task, for how long, doing what, on which queue."""

    task: str
    duration_s: float
    kind: str = "sleep"
    queue: str = "jobs"
    fail: str | None = None  # None, "always" or "once" (see worker.records.FAIL_MODES)
    cup: float | None = None  # share of the duration that needs the one cup (the quiz), 0 to 1
    cup_name: str | None = None  # which cup: a Redis lock shared by every job of a run

    @property
    def kwargs(self) -> dict[str, Any]:
        """The task's JSON arguments."""
        kwargs: dict[str, Any] = {"duration": self.duration_s, "kind": self.kind}
        if self.fail:
            kwargs["fail"] = self.fail
        if self.cup:
            kwargs["cup"], kwargs["cup_name"] = self.cup, self.cup_name
        return kwargs


def picked(index: int, rate: float, phase: float = 0.0) -> bool:
    """Whether job `index` is among a `rate` share of jobs, spread evenly over the batch.

    `phase` (0 to 1) shifts the picks by part of a stride, so two shares of the same rate
    pick different jobs.
    """
    return int((index + 1) * rate + phase) > int(index * rate + phase)


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

    A `fail_rate` share of them fail for good; a `flaky_rate` share of the others fail once
    and are retried, so both kinds show up whatever the two rates.
    """
    fails = [picked(i, fail_rate) for i in range(jobs)]
    others = [i for i in range(jobs) if not fails[i]]
    flaky = {i for k, i in enumerate(others) if picked(k, flaky_rate)}

    def fail(i: int) -> str | None:
        return "always" if fails[i] else "once" if i in flaky else None

    return [Job(tasks[i % len(tasks)], duration_s, kind, queue, fail(i)) for i in range(jobs)]


class Status(StrEnum):
    """What can become of a job, as its outcome says (`Outcome.status`, the `--json` form's "status").

    A `StrEnum`, so each member equals, prints and serialises as its name: the JSON stays the same.
    The first three are Celery's own states (celery.states), which the result carries, so a member
    equals the state Celery reports; WITHDRAWN is the producer's own.
    """

    SUCCESS = states.SUCCESS  # it ran and returned its record
    FAILURE = states.FAILURE  # it raised (for good, after its retries), or its result said so
    PENDING = states.PENDING  # no result when the producer stopped waiting: still running, or lost
    WITHDRAWN = "WITHDRAWN"  # taken back out of the queue before it started (Ctrl-C, timeout)


#: Every status, in the enum's order (kept for callers that want a tuple).
STATUSES = tuple(Status)


#: How a run that did not give its job the result ended (`LostRun.end`).
DIED = "died"  # its worker died or left under it: it never finished, and the job was handed on (or is lost)
CANCELLED = "cancelled"  # its worker lost Redis and cancelled it (worker.runs.CANCELLED): the job ran again
FENCED = "fenced"  # its worker was fenced off (cut off, frozen) and the job handed on: it may still run
RETRIED = "retried"  # it failed, and the job was retried (with backoff)
FAILED = "failed"  # it failed for good, and no record came with the failure
TWICE = "twice"  # it finished too, but another run's outcome is the job's (a duplicate)
RUNNING = "running"  # it had not ended when the producer stopped waiting
#: How each end is said in a picture: `task1 (lost)`.
END_WORDS = {DIED: "lost", CANCELLED: "cancelled", FENCED: "fenced off", RETRIED: "failed, retried", FAILED: "failed",
             TWICE: "ran twice", RUNNING: "still running"}
#: The ends that put the job back to be handed out again by no doing of its own (a worker lost).
WORKER_LOST = (DIED, FENCED)
#: The ends after which the job waited in the queue again (a failed attempt waits for its retry's backoff).
BACK_IN_QUEUE = (DIED, CANCELLED, FENCED)
#: Seconds between a task-started event and the run list's start of the same run (both stamped as it starts).
SAME_RUN_S = 2.0


@dataclass(frozen=True)
class LostRun:
    """A run of a job that did not give it its result: lost with its worker, as the events saw it, or, as
    its run list tells (worker.runs), cancelled, fenced off, failed and retried, run twice, or still running.
    """

    worker: str  # node name, e.g. worker@a904c1d2e3f4
    hostname: str  # the part after @, the record's hostname
    pid: int | None  # the process that ran it when `ran_in` (its run list), else the pid its events carried
    started_at: datetime
    # when it was last known to run: its end or interruption, its worker's last sign of life, the next
    # attempt's start, or when the producer stopped waiting, whichever came first
    ended_at: datetime
    end: str = DIED  # one of DIED, CANCELLED, FENCED, RETRIED, FAILED, TWICE, RUNNING
    why: str = ""  # the run list's words, when it gave a reason
    ran_in: bool = False  # `pid` is the process that ran it, as a record's pid; else the worker's main process


@dataclass(frozen=True)
class Seen:
    """What the cluster's events saw of a job, on the producer's clock (producer.story moves them).

    `received_at`: when a worker took it off the queue (its last task-received: the worker
    that ran it to the end, or holds it); from then until it started it was reserved there.
    """

    received_by: str | None  # node name
    received_at: datetime | None
    lost: tuple[LostRun, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted job: its record (when it ran) and its error otherwise.

    Frozen: each stage that learns more of the job (its result, a withdrawal, a resubmission, its run
    list, what the events saw, a story's clock) makes a new one (`dataclasses.replace`) and puts it
    where the old one was.
    Times: `submitted_at` and `received_at` are the producer's clock, the record's the
    worker's (producer.story puts them on one clock).
    """

    job: Job
    task_id: str
    submitted_at: datetime
    status: Status = Status.PENDING
    record: JobRecord | None = None  # also set for a failed job whose error carried one
    error: str | None = None
    received_at: datetime | None = None  # when the producer got the result
    ran_twice: tuple[Run, ...] = ()  # every run of an attempt that ran more than once (worker.runs)
    runs: tuple[Run, ...] = ()  # every run its run list tells of (worker.runs), interrupted ones too
    resubmitted: int = 0  # times the producer sent it again, lost on its way to a worker (producer.inflight)
    seen: Seen | None = None  # what the events saw, when they were followed (producer.story)
    given_up_at: datetime | None = None  # when the producer stopped waiting for it without a result (its clock)

    @property
    def ran(self) -> bool:
        """Whether the job ran to its end (succeeded, or failed with its record)."""
        return self.record is not None

    @cached_property  # the figures and every picture ask again and again (20,000 jobs)
    def attempts(self) -> tuple[LostRun, ...]:
        """Every run of the job other than the one its record tells of, in the order they started.

        Its run list (worker.runs) names each run's process and how it ended; the events (`seen`)
        tell when a run lost with its worker was last heard of. A run the events saw lost that the
        run list does not have (no run list, a gap) is kept as the events saw it. On one clock when
        the outcome is a story's (producer.story).
        """
        seen = list(self.seen.lost) if self.seen is not None else []
        ordered = sorted(self.runs, key=lambda r: r.started_at)
        own = self._own_run(ordered)
        last_attempt = max([r.attempt for r in ordered] + ([self.record.attempt] if self.record else []), default=1)
        finished = [r for r in ordered if r.finished_at is not None and r is not own]
        found = []
        for i, run in enumerate(ordered):
            if run is own:
                continue
            event = _same_run(seen, run)
            after = ordered[i + 1].started_at if i + 1 < len(ordered) else None
            if after is None and self.record is not None and self.record.started_at > run.started_at:
                after = self.record.started_at
            # its worker's last sign of life may be the task-started event, sent a moment before the
            # pool process wrote the run's start: then the run ended as it started, not at the next
            last_seen = max(event.ended_at, run.started_at) if event is not None and event.ended_at else None
            ends = [t for t in (last_seen, run.interrupted_at, after) if t is not None]
            if run.finished_at is not None:
                end = RETRIED if run.attempt < last_attempt else \
                    FAILED if self.record is None and self.status == Status.FAILURE and run is finished[-1] else TWICE
                ends = [run.finished_at]
            elif run.interrupted is not None:
                end = FENCED if run.interrupted.startswith(run_list.FENCED) else CANCELLED
            elif self.record is not None and run.started_at > self.record.started_at:
                end, ends = TWICE, ends[:1] if event else []  # beside the run that counts: a duplicate
            elif after is not None or event is not None or self.status != Status.PENDING:
                end = DIED
            else:  # the last run of a job still without a result, its worker not seen gone
                end, ends = RUNNING, [self.given_up_at] if self.given_up_at is not None else []
            ended = min((t for t in ends if t >= run.started_at), default=run.started_at)
            found.append(LostRun(run.worker, run.worker.partition("@")[2] or run.worker, run.pid, run.started_at,
                                 ended, end, run.interrupted or "", ran_in=True))
        return tuple(sorted(found + seen, key=lambda a: a.started_at))

    def _own_run(self, ordered: list[Run]) -> Run | None:
        """The run the record tells of: its worker, process and attempt, started by the record's start."""
        r = self.record
        if r is None:
            return None
        # a run's pid is known from its finish: one whose finish was never written has none
        mine = [run for run in ordered if (run.worker, run.attempt) == (r.worker, r.attempt)
                and run.pid in (None, r.pid) and run.started_at <= r.started_at]
        return mine[-1] if mine else None

    def queue_waits(self) -> list[tuple[datetime, datetime, LostRun | None]]:
        """When the job waited in the queue, each wait with the attempt it ended in (None: the record's run).

        On one clock (a story's outcomes, producer.story). From its submit until its first attempt,
        then from each attempt's end that put it back in the queue (a worker lost, a run cancelled)
        until the next; the last wait ends when a worker took it off the queue (as the events saw
        it), else when the record's run started. After a failed attempt the job waits for its
        retry's backoff, not in the queue; still running, it waits no more. Empty waits left out.
        """
        spans: list[tuple[datetime, datetime, LostRun | None]] = []
        since: datetime | None = self.submitted_at
        for attempt in self.attempts:
            if since is not None:
                spans.append((since, attempt.started_at, attempt))
            since = attempt.ended_at if attempt.end in BACK_IN_QUEUE else None
        received = self.seen.received_at if self.seen is not None else None
        end = received or (self.record.started_at if self.record is not None else None)
        if since is not None and end is not None:
            spans.append((since, end, None))
        return [(a, b, attempt) for a, b, attempt in spans if b > a]

    @property
    def reserved(self) -> tuple[datetime, datetime] | None:
        """From when a worker took the job off the queue until it started there (waiting for a free slot).

        None unless the events saw it received and it ran to its end."""
        if self.seen is None or self.seen.received_at is None or self.record is None:
            return None
        since = max(self.seen.received_at, self.submitted_at)
        return (since, self.record.started_at) if self.record.started_at > since else None

    def as_json(self) -> dict[str, Any]:
        """The result record with submitted_at and status added (the `--json` form)."""
        base = {"task": self.job.task, "task_id": self.task_id} if self.record is None else self.record.to_json()
        base["submitted_at"] = iso(self.submitted_at)
        if self.received_at is not None:
            base["received_at"] = iso(self.received_at)
        base["status"] = self.status
        if self.error is not None:
            base["error"] = self.error
        if self.runs:
            base["runs"] = len(self.runs)
        if self.resubmitted:
            base["resubmitted"] = self.resubmitted
        if self.ran_twice:
            base["ran_twice"] = [{"worker": r.worker, "pid": r.pid, "attempt": r.attempt,
                                  "started_at": iso(r.started_at),
                                  "finished_at": iso(r.finished_at) if r.finished_at else None}
                                 for r in self.ran_twice]
        return base


def _same_run(seen: list[LostRun], run: Run) -> LostRun | None:
    """The attempt the events saw lost that is `run` (its worker, started within SAME_RUN_S), taken out of `seen`."""
    near = [a for a in seen if a.worker == run.worker
            and abs((a.started_at - run.started_at).total_seconds()) <= SAME_RUN_S]
    if not near:
        return None
    event = min(near, key=lambda a: abs((a.started_at - run.started_at).total_seconds()))
    seen.remove(event)
    return event


def failed(outcomes: list[Outcome]) -> list[Outcome]:
    """Jobs that failed, did not finish in time, or were withdrawn."""
    return [o for o in outcomes if o.status != Status.SUCCESS]


def withdrawn(outcomes: list[Outcome]) -> list[Outcome]:
    """Jobs withdrawn from the queue before they started (a timeout, Ctrl-C)."""
    return [o for o in outcomes if o.status == Status.WITHDRAWN]
