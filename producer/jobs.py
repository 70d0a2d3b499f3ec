"""The jobs of a batch and what became of them: pure data, no I/O.

`plan` says what to submit; an `Outcome` holds one job's fate, with its result record
parsed once into a typed `JobRecord` (worker.records), and, when the cluster's events were
followed, what they saw of it (`Seen`, merged in by producer.story).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


#: What can become of a job: it succeeded, failed, did not finish in time, or was withdrawn
#: from the queue before it started (Ctrl-C, timeout).
STATUSES = ("SUCCESS", "FAILURE", "PENDING", "WITHDRAWN")


@dataclass(frozen=True)
class LostRun:
    """An attempt that never ended: its worker died (or left) under it, as the events saw it."""

    worker: str  # node name, e.g. worker@a904c1d2e3f4
    hostname: str  # the part after @, the record's hostname
    pid: int | None  # the pid its events carried: the worker's main process, not a pool process
    started_at: datetime
    ended_at: datetime  # the next attempt's start, or when its worker went silent or said goodbye


@dataclass(frozen=True)
class Seen:
    """What the cluster's events saw of a job, on the producer's clock (producer.story moves them).

    `received_at`: when a worker took it off the queue (its last task-received: the worker
    that ran it to the end, or holds it); from then until it started it was reserved there.
    """

    received_by: str | None  # node name
    received_at: datetime | None
    lost: tuple[LostRun, ...] = ()


@dataclass
class Outcome:
    """What became of one submitted job: its record (when it ran) and its error otherwise.

    Times: `submitted_at` and `received_at` are the producer's clock, the record's the
    worker's (producer.story puts them on one clock).
    """

    job: Job
    task_id: str
    submitted_at: datetime
    status: str = "PENDING"
    record: JobRecord | None = None  # also set for a failed job whose error carried one
    error: str | None = None
    received_at: datetime | None = None  # when the producer got the result
    ran_twice: tuple[Run, ...] = ()  # every run of an attempt that ran more than once (worker.runs)
    runs: tuple[Run, ...] = ()  # every run its run list tells of (worker.runs), interrupted ones too
    resubmitted: int = 0  # times the producer sent it again, lost on its way to a worker (producer.inflight)
    seen: Seen | None = None  # what the events saw, when they were followed (producer.story)

    @property
    def ran(self) -> bool:
        """Whether the job ran to its end (succeeded, or failed with its record)."""
        return self.record is not None

    def queue_waits(self) -> list[tuple[datetime, datetime, LostRun | None]]:
        """When the job waited in the queue, each wait with the attempt it ended in (None: the record's run).

        On one clock (a story's outcomes, producer.story). Without events: submit to the record's start. As the
        events saw it: submit until its first attempt, then from each lost attempt's end until
        the next; the last wait ends when a worker took it off the queue. Empty waits left out.
        """
        if self.seen is None:
            spans: list[tuple[datetime, datetime, LostRun | None]] = []
            if self.record is not None:
                spans.append((self.submitted_at, self.record.started_at, None))
        else:
            spans, since = [], self.submitted_at
            for lost in self.seen.lost:
                spans.append((since, lost.started_at, lost))
                since = lost.ended_at
            end = self.seen.received_at or (self.record.started_at if self.record is not None else None)
            if end is not None:
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


def failed(outcomes: list[Outcome]) -> list[Outcome]:
    """Jobs that failed, did not finish in time, or were withdrawn."""
    return [o for o in outcomes if o.status != "SUCCESS"]


def withdrawn(outcomes: list[Outcome]) -> list[Outcome]:
    """Jobs withdrawn from the queue before they started (a timeout, Ctrl-C)."""
    return [o for o in outcomes if o.status == "WITHDRAWN"]
