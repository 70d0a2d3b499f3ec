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
from producer.jobs import LostRun, Outcome, Seen

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
