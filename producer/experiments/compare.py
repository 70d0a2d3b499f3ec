"""Concurrency vs parallelism, measured: the same jobs on each worker flavour, sleep and cpu.

The course page's point in one table. Processes (one per container) give parallelism:
sleep and cpu jobs both speed up, cpu ones up to the number of cores. Threads and gevent
give concurrency: sleep jobs overlap (waiting needs no CPU), cpu jobs take turns (the GIL
lets one thread run Python at a time), so they do not speed up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from celery import Celery

from cluster.workers import Worker, consuming
from producer.figures import Summary, judge
from producer.jobs import plan
from producer.results import BatchResult
from producer.submit import run_batch
from producer.views.progress import Shown
from worker.burn import burn_cpu


@dataclass(frozen=True)
class Flavour:
    """A kind of worker: how it runs several jobs at once, and the queue it consumes."""

    pool: str
    queue: str
    how: str


def flavours(queue: str) -> list[Flavour]:
    """The flavours compose offers (the threads and gevent ones behind the `flavours` profile)."""
    return [
        Flavour("processes", queue, "one process per container"),
        Flavour("threads", f"{queue}-threads", "threads in one process"),
        Flavour("gevent", f"{queue}-gevent", "greenlets on one thread"),
    ]


@dataclass
class Row:
    """One line of the comparison: a kind of job on a flavour (or the baseline)."""

    kind: str
    pool: str
    slots: int
    wall_s: float
    speedup: float | None  # work / wall, as everywhere (producer.figures)
    peak: int
    verdict: str  # producer.figures.judge's short form: the one verdict
    failed: int = 0
    summary: Summary | None = None

    @property
    def efficiency(self) -> float | None:
        """Ideal wall / wall on this row's own slots: the fair comparison between rows of different slots."""
        return self.summary.efficiency if self.summary is not None else None


def one_after_another(jobs: int, duration_s: float, kind: str) -> float:
    """The course page's loop, here in this process: run each job in turn; returns the wall time."""
    start = time.perf_counter()
    for _ in range(jobs):
        if kind == "cpu":
            burn_cpu(duration_s)
        else:
            time.sleep(duration_s)
    return time.perf_counter() - start


def compare(app: Celery, online: list[Worker], jobs: int, duration_s: float, kinds: tuple[str, ...],
            queue: str, timeout_s: float, shown: Shown | None = None) -> tuple[list[Row], list[str]]:
    """Run `jobs` jobs of each kind on the baseline and every flavour that has workers.

    Returns the rows and the flavours skipped for lack of workers. Each row is a part of `shown`
    (`sleep jobs on threads`): piped, the command says which one runs.
    """
    shown = shown if shown is not None else Shown()
    rows: list[Row] = []
    available = [(f, consuming(online, f.queue)) for f in flavours(queue)]
    skipped = [f"{f.pool} (no worker on queue '{f.queue}')" for f, workers in available if not workers]
    for kind in kinds:
        with shown.part(f"{kind} jobs one after another here", 0):  # no job in Redis: nothing to count
            base = one_after_another(jobs, duration_s, kind)
        rows.append(Row(kind, "one after another", 1, base, jobs * duration_s / base if base else None, 1,
                        "the course page's loop"))
        for flavour, workers in available:
            if not workers:
                continue
            slots = sum(w.slots for w in workers)
            with shown.part(f"{kind} jobs on {flavour.pool}", jobs):
                collected = run_batch(app, plan(jobs, duration_s, kind, flavour.queue), timeout_s,
                                      on_result=shown.on_result, on_submitted=shown.on_submitted)
            batch = BatchResult.of(collected, slots_online=slots)
            summary = batch.summary
            rows.append(Row(kind, flavour.pool, slots, collected.wall_s, summary.speedup, summary.peak_overlap,
                            judge(summary).short,
                            failed=len(batch.failed), summary=summary))
    return rows, skipped


def slots_note(rows: list[Row]) -> str:
    """When the flavours had different slots, say so: more slots, more speedup, whatever the flavour.

    With 2 worker containers and 4 threads, threads look "faster" than processes; they only
    had more slots. Efficiency (ideal wall / wall on a row's own slots) compares them fairly.
    """
    slots = {r.pool: r.slots for r in rows if r.summary is not None}
    if len(set(slots.values())) <= 1:
        return ""
    listed = ", ".join(f"{pool} {n}" for pool, n in slots.items())
    return (f"slots differ ({listed}): more slots give more speedup, whatever the flavour; compare the "
            "efficiency. Same slots for processes: WORKERS=4 FLAVOURS=1 docker compose up -d --wait")
