"""One finished batch as every figure and picture reads it: records and events merged, clocks aligned once.

A result record says where and when a job ran to its end, on its worker's clock; the producer
stamped `submitted_at` and `received_at` on its own. `tell` builds the batch's `Story` once:
each worker host's clock offset (`clock_offsets`), every record moved onto the producer's
clock (`align`), and, when the cluster's events were followed, what they saw of each job
(task-received; the attempts that never ended, on a worker that died or left under them)
merged in as a typed `Seen`, moved with the same offsets (event timestamps are the worker's
clock, like the record's). The summary (producer.figures), the timeline, the trace, the plot
and the report all read that one story; without events they draw what they always did.
Pure, no I/O.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cluster.events import Snapshot, TaskFacts, WorkerFacts
from producer.jobs import BACK_IN_QUEUE, LostRun, Outcome, Seen

SlotKey = tuple[str, int, str]
#: The third part of the slot key of a slot that only attempts without a record ran on (see `placed_attempts`).
LOST_SLOT = "lost"


@dataclass(frozen=True)
class Story:
    """One finished batch, told once (`tell`): its outcomes on the producer's clock, what the events saw, the offsets.

    `outcomes` is what the figures and pictures read (submission order, records moved onto the
    producer's clock); `recorded` the same outcomes with each record as its worker reported it
    (the job lines and the JSON show the workers' own times); `offsets` each worker host's clock
    minus the producer's, in seconds. Both carry `Outcome.seen` when the events were followed.
    """

    outcomes: tuple[Outcome, ...]
    recorded: tuple[Outcome, ...]
    offsets: dict[str, float]

    @property
    def ran(self) -> bool:
        """Whether any job ran, to its end or not (there is something to draw)."""
        return any(o.record is not None or o.attempts for o in self.outcomes)


def tell(outcomes: Iterable[Outcome], seen: Snapshot | None = None) -> Story:
    """The story of a batch's outcomes (as collected), with what the events in `seen` saw of each when given."""
    recorded = list(outcomes)
    offsets = clock_offsets(recorded)
    if seen is not None:
        recorded = with_events(recorded, seen, offsets)
    aligned, _ = align(recorded, offsets)
    return Story(tuple(aligned), tuple(recorded), offsets)


def clock_offsets(outcomes: Iterable[Outcome]) -> dict[str, float]:
    """Each worker host's clock minus the producer's, in seconds, as far as the records tell.

    A job cannot start before it was submitted nor finish after its result arrived, so the
    offset lies in [max(finished - received), min(started - submitted)]. Zero when zero
    fits (the clocks agree as far as anyone can tell), else the nearest end of that range,
    the middle when the range is empty (a clock that jumped).
    """
    low: dict[str, float] = defaultdict(lambda: -math.inf)
    high: dict[str, float] = defaultdict(lambda: math.inf)
    for o in outcomes:
        if o.record is None:
            continue
        host = o.record.hostname
        high[host] = min(high[host], (o.record.started_at - o.submitted_at).total_seconds())
        if o.received_at is not None:
            low[host] = max(low[host], (o.record.finished_at - o.received_at).total_seconds())
    offsets = {}
    for host in high:
        lo, hi = low[host], high[host]
        if lo > hi:
            offsets[host] = (lo + hi) / 2
        elif lo > 0:
            offsets[host] = lo
        elif hi < 0:
            offsets[host] = hi
        else:
            offsets[host] = 0.0
    return offsets


def align(outcomes: Sequence[Outcome],
          offsets: dict[str, float] | None = None) -> tuple[list[Outcome], dict[str, float]]:
    """The outcomes with every record and run (worker.runs) moved onto the producer's clock, and the offsets
    used (`clock_offsets`'s by default). A run goes with its worker's host, as its records name it."""
    offsets = clock_offsets(outcomes) if offsets is None else offsets
    hosts = {o.record.worker: o.record.hostname for o in outcomes if o.record is not None}

    def offset(node: str) -> float:
        return offsets.get(hosts.get(node, host_of(node)), 0.0)

    aligned = []
    for o in outcomes:
        moved: dict[str, Any] = {}
        if o.record is not None and offsets.get(o.record.hostname):
            moved["record"] = o.record.shifted(-offsets[o.record.hostname])
        for name in ("runs", "ran_twice"):
            if any(offset(r.worker) for r in getattr(o, name)):
                moved[name] = tuple(r.shifted(-offset(r.worker)) for r in getattr(o, name))
        aligned.append(replace(o, **moved) if moved else o)
    return aligned, offsets


def placed_attempts(outcomes: Sequence[Outcome]) -> list[tuple[Outcome, LostRun, SlotKey]]:
    """Every run of these jobs other than their records' (`Outcome.attempts`), with the slot it ran on.

    That is the one slot the records name in the process that ran it (its run list names it),
    or, for a run only the events saw (they name the worker's main process, not the pool
    process), the one slot its worker's records name; else a slot of its own in that process.
    """
    of_process: dict[tuple[str, int | None], set[SlotKey]] = defaultdict(set)
    of_worker: dict[str, set[SlotKey]] = defaultdict(set)
    hosts: dict[str, str] = {}
    for o in outcomes:
        if (r := o.record) is not None:
            of_process[(r.worker, r.pid)].add(r.slot_key)
            of_worker[r.worker].add(r.slot_key)
            hosts[r.worker] = r.hostname
    placed = []
    for o in outcomes:
        for attempt in o.attempts:
            slots = of_process.get((attempt.worker, attempt.pid), set()) if attempt.ran_in \
                else of_worker.get(attempt.worker, set())
            key = next(iter(slots)) if len(slots) == 1 else \
                (hosts.get(attempt.worker, attempt.hostname), attempt.pid or 0, LOST_SLOT)
            placed.append((o, attempt, key))
    return placed


@dataclass(frozen=True)
class SlotRun:
    """One run of a job on the slot that ran it: the record's (`attempt` None) or another (`Outcome.attempts`).

    `idle_since`: from when the job waited in the queue while this slot ran none of these jobs
    (since it was submitted or back in the queue, or since this slot's run before ended), until
    `started_at`; None when it did not wait so (it followed a failed attempt: a retry's backoff).
    """

    key: SlotKey
    started_at: datetime
    ended_at: datetime
    outcome: Outcome
    attempt: LostRun | None
    idle_since: datetime | None

    @property
    def worker(self) -> str:
        """The node name of the worker that ran it."""
        return self.attempt.worker if self.attempt is not None else self.outcome.record.worker  # type: ignore[union-attr]

    @property
    def first(self) -> bool:
        """Whether this is the job's first run: its wait, if any, began with its submit."""
        o = self.outcome
        starts = [a.started_at for a in o.attempts] + ([o.record.started_at] if o.record is not None else [])
        return self.started_at <= min(starts)


def slot_runs(outcomes: Sequence[Outcome]) -> list[SlotRun]:
    """Every run of these jobs (records' and `placed_attempts`) on its slot, in the order they started."""
    runs = [(o.record.started_at, o.record.finished_at, o.record.slot_key, o, None)
            for o in outcomes if o.record is not None]
    runs += [(a.started_at, a.ended_at, key, o, a) for o, a, key in placed_attempts(outcomes)]
    last_end: dict[SlotKey, datetime] = {}
    told = []
    for started, ended, key, o, attempt in sorted(runs, key=lambda r: r[0]):
        since = waiting_since(o, attempt)
        if since is not None and key in last_end:
            since = max(since, last_end[key])
        told.append(SlotRun(key, started, ended, o, attempt, since))
        last_end[key] = ended
    return told


def waiting_since(outcome: Outcome, attempt: LostRun | None) -> datetime | None:
    """When the job went (back) to the queue before this attempt (None: the record's run): its submit, or the
    end of the attempt before it that put it back; None after a failed attempt (it waited for its retry's
    backoff, not in the queue)."""
    attempts = outcome.attempts
    if attempt is not None:
        before = attempts[:attempts.index(attempt)]
    else:
        started = outcome.record.started_at if outcome.record is not None else None
        before = tuple(a for a in attempts if started is None or a.started_at < started)
    if not before:
        return outcome.submitted_at
    return before[-1].ended_at if before[-1].end in BACK_IN_QUEUE else None


def host_of(node: str) -> str:
    """The hostname in a node name, `worker@a904c1d2e3f4` -> `a904c1d2e3f4` (the record's hostname)."""
    return node.partition("@")[2] or node


def with_events(outcomes: list[Outcome], snap: Snapshot, offsets: dict[str, float] | None = None) -> list[Outcome]:
    """The outcomes with what `snap` saw of each (`Outcome.seen`); a job the events missed is left as it was.

    Event times are moved onto the producer's clock with `offsets` (`clock_offsets` of these outcomes by default).
    """
    offsets = clock_offsets(outcomes) if offsets is None else offsets
    tasks = {t.id: t for t in snap.tasks}
    workers = {w.name: w for w in snap.workers}

    def moved(timestamp: float, node: str) -> datetime:
        """A worker's timestamp on the producer's clock (a host without records is taken to agree)."""
        return datetime.fromtimestamp(timestamp - offsets.get(host_of(node), 0.0), UTC)

    def received(task: TaskFacts) -> tuple[str | None, datetime | None]:
        if task.holder is None:
            return None, None
        return task.holder.node, moved(task.holder.received, task.holder.node)

    merged = []
    for o in outcomes:
        task = tasks.get(o.task_id)
        if task is None:
            merged.append(o)
            continue
        by, at = received(task)
        lost = lost_runs(task, workers, snap.taken_at, o.record is not None, moved)
        merged.append(replace(o, seen=Seen(by, at, lost)))
    return merged


def lost_runs(task: TaskFacts, workers: dict[str, WorkerFacts], now: float, finished: bool,
              moved: Callable[[float, str], datetime]) -> tuple[LostRun, ...]:
    """The task's attempts that never ended, each ending where the live view ends it (producer.views.lanes).

    An attempt is lost when another followed it, or, for the last one of a job without a result
    (`finished` false), when its worker is dead or gone. It ends at the earliest of the next
    attempt's start, its worker's last sign of life (receiver clock: the producer's) and `now`.
    """
    lost = []
    for i, run in enumerate(task.runs):
        worker = workers.get(run.node)
        last = i == len(task.runs) - 1
        gone = worker is not None and not worker.alive
        if not (run.end == "lost" or (last and run.end is None and not finished and gone)):
            continue
        started = moved(run.started, run.node)
        ends = [datetime.fromtimestamp(now, UTC)]
        if not last:
            following = task.runs[i + 1]
            ends.append(moved(following.started, following.node))
        if worker is not None and worker.silent_since is not None:
            ends.append(datetime.fromtimestamp(worker.silent_since, UTC))
        ended = min((t for t in ends if t >= started), default=started)
        lost.append(LostRun(run.node, host_of(run.node), run.pid, started, ended))
    return tuple(lost)
