"""What the cluster's events saw of each job, merged into its outcome: pure, no I/O.

A result record says where and when a job ran to its end. The events (cluster.events) saw
more: when a worker took the job off the queue (task-received), and the attempts that never
ended, on a worker that died or left under them. `with_events` adds that to each outcome as
a typed `Seen`, moved onto the producer's clock with the same per-host offsets as the records
(figures.clock_offsets): event timestamps are the worker's clock, like the record's. So the
timeline, the trace and the plot draw one story; without events they draw what they always did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from cluster.events import Snapshot, TaskFacts, WorkerFacts
from producer.figures import clock_offsets
from producer.jobs import LostRun, Outcome, Seen


def host_of(node: str) -> str:
    """The hostname in a node name, `worker@a904c1d2e3f4` -> `a904c1d2e3f4` (the record's hostname)."""
    return node.partition("@")[2] or node


def with_events(outcomes: list[Outcome], snap: Snapshot) -> list[Outcome]:
    """The outcomes with what `snap` saw of each (`Outcome.seen`); a job the events missed is left as it was."""
    offsets = clock_offsets(outcomes)
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
