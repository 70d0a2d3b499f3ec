"""Made-up result records and outcomes for the unit tests: typed objects, built directly, no broker."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from cluster.events import EventState, snapshot
from producer.figures import Summary
from producer.jobs import Job, LostRun, Outcome, Seen, Status
from producer.views.lanes import lanes
from worker.records import JobRecord
from worker.runs import Run

#: The first submit of every made-up batch; times below are seconds after it.
T0 = datetime(2026, 11, 24, 19, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def record(start: float, end: float, *, task: str = "task1", task_id: str = "id-0", kind: str = "sleep",
           duration_s: float = 1.0, hostname: str = "h1", worker: str | None = None, pid: int = 8,
           slot: str | None = None, pool: str = "prefork", cpus: float = 4.0, machine: str = "m1",
           runtime_s: float | None = None, cpu_s: float = 0.0, attempt: int = 1,
           redelivered: bool = False) -> JobRecord:
    """A job that ran from `start` to `end` seconds after T0 on the worker's clock."""
    return JobRecord(
        task=task, task_id=task_id, kind=kind, duration_s=duration_s, worker=worker or f"worker@{hostname}",
        hostname=hostname, pid=pid, slot=slot if slot is not None else str(pid), pool=pool, cpus=cpus,
        machine=machine, started_at=at(start), finished_at=at(end),
        runtime_s=end - start if runtime_s is None else runtime_s, cpu_s=cpu_s, attempt=attempt,
        redelivered=redelivered,
    )


def run(start: float, end: float | None = None, *, worker: str = "worker@h1", pid: int = 8, attempt: int = 1,
        why: str | None = None, cut: float | None = None) -> Run:
    """One run of a job as its run list tells it (worker.runs): started at `start`, finished at `end`, or
    interrupted at `cut` for `why`."""
    return Run(worker, pid, attempt, at(start), None if end is None else at(end), why,
               None if cut is None else at(cut))


def cup_record(start: float, end: float, waited: float, held: float, cup: float = 1.0, **kw) -> JobRecord:
    """A job that needed the cup (`cup` of its duration): it waited `waited` s for it, then held it `held` s."""
    return replace(record(start, end, **kw), cup=cup, waited_for_cup_s=waited, cup_s=held)


def outcome(rec: JobRecord | None = None, *, submitted: float = 0.0, received: float | None = None,
            status: str | None = None, task: str | None = None, task_id: str | None = None,
            duration_s: float | None = None, kind: str | None = None, error: str | None = None,
            received_after_s: float | None = 0.002) -> Outcome:
    """One submitted job's fate: SUCCESS with `rec`'s result, PENDING without a record, unless `status` says.

    The result arrives `received_after_s` after the record's end (on the producer's clock as if
    the clocks agreed), or at `received` when given; None for neither.
    """
    if received is None and rec is not None and received_after_s is not None:
        received = (rec.finished_at - T0).total_seconds() + received_after_s
    job = Job(task or (rec.task if rec else "task1"),
              duration_s if duration_s is not None else (rec.duration_s if rec else 1.0),
              kind or (rec.kind if rec else "sleep"))
    said = Status(status) if status else Status.SUCCESS if rec else Status.PENDING
    return Outcome(job, task_id or (rec.task_id if rec else "id-0"), at(submitted), status=said, record=rec,
                   error=error, received_at=at(received) if received is not None else None)


def waves(jobs: int, hosts: int, duration_s: float = 1.0, *, kind: str = "sleep", gap: float = 0.01,
          pids: int = 1, cpus: float = 4.0, machines: int = 1, pool: str = "prefork") -> list[Outcome]:
    """`jobs` jobs on `hosts` x `pids` single-slot processes, submitted 1 ms apart, run in waves."""
    slots = hosts * pids
    out = []
    for i in range(jobs):
        host, pid = i % slots // pids, 7 + i % pids
        start = i // slots * duration_s + gap
        rec = record(start, start + duration_s, task=f"task{i % 2 + 1}", task_id=f"id-{i}", kind=kind,
                     duration_s=duration_s, hostname=f"h{host}", pid=pid, pool=pool, cpus=cpus,
                     machine=f"m{host % machines}")
        out.append(outcome(rec, submitted=i * 0.001))
    return out


def made_up(*, kind="sleep", pool="prefork", slots=2, processes=None, duration=1.0, jobs=4, failed=0,
            withdrawn=0, retried=0, redelivered=0, queued=0, speedup=1.9, peak=None, cpus=2.0,
            stretch=1.0, unfinished=0, cancelled=0, backoff=0.0, held=0.0) -> Summary:
    """A summary as summarize() would make it, from the figures that matter to the verdict."""
    processes = processes if processes is not None else (1 if pool in ("threads", "gevent") else slots)
    succeeded = jobs - failed - withdrawn - unfinished
    limit = slots
    if kind == "cpu":
        limit = max(1, min(limit, processes if pool != "prefork" else limit, math.floor(cpus)))
    work = succeeded * duration
    ideal = math.ceil(jobs / limit) * duration
    wall = work / speedup if work and speedup else 0.25
    peak = peak if peak is not None else min(slots, jobs)
    return Summary(
        jobs=jobs, succeeded=succeeded, failed=failed, withdrawn=withdrawn, kind=kind, duration_s=duration,
        wall_s=round(wall, 6), work_s=work, slots_used=min(slots, jobs - withdrawn) or 0, processes_used=processes,
        workers_used=processes, pools=(pool,), slots_online=slots, cpus=cpus, parallel_limit=limit,
        ideal_wall_s=ideal, speedup=round(work / wall, 3) if succeeded and wall else None,
        efficiency=round(ideal / wall, 3) if succeeded and wall else None, peak_overlap=peak,
        stretch_median=stretch if succeeded else None, stretch_max=stretch if succeeded else None, cpu_s=0.0,
        redelivered=redelivered, retried=retried, queued_ahead=queued, unfinished=unfinished, cancelled=cancelled,
        retry_wait_s=backoff if retried else 0.0, queued_while_idle_s=held)


def killed_worker():
    """h0 runs a, then b until it dies at 1.5 s; b runs again on h1 (taken off the queue at 1.55 s); c was
    lost on h9, a worker that never finished anything, and never ran again."""
    a = outcome(record(0.0, 1.0, task_id="a", hostname="h0"))
    b = replace(outcome(record(1.6, 2.6, task_id="b", task="task2", hostname="h1", pid=9, redelivered=True)),
                seen=Seen("worker@h1", at(1.55), (LostRun("worker@h0", "h0", 100, at(1.0), at(1.5)),)))
    c = replace(outcome(None, task_id="c"),
                seen=Seen("worker@h9", at(0.1), (LostRun("worker@h9", "h9", 300, at(0.2), at(2.0)),)))
    return [a, b, c]


# --- a cluster's events, made up: for the live lanes and the recovery service ---------------------------

EVENTS_T0 = 1_700_000_000.0  # every made-up event's timestamp is EVENTS_T0 + seconds
_clock = itertools.count(1)


class Cluster:
    """Feeds a Celery State with the events a real cluster would send."""

    def __init__(self, max_tasks: int = 10000) -> None:
        self.state = EventState(max_tasks_in_memory=max_tasks)

    def event(self, type_: str, at: float, hostname: str, **fields) -> None:
        self.state.event({"type": type_, "hostname": hostname, "timestamp": EVENTS_T0 + at,
                          "local_received": EVENTS_T0 + at, "clock": next(_clock), "utcoffset": 0, **fields})

    def heartbeat(self, node: str, at: float, pid: int = 100, active: int = 0) -> None:
        self.event("worker-heartbeat", at, node, pid=pid, freq=2.0, active=active, processed=0)

    def sent(self, task_id: str, at: float, name: str = "task1") -> None:
        self.event("task-sent", at, "producer@here", uuid=task_id, name=name, pid=1)

    def runs(self, task_id: str, node: str, start: float, end: float | None = None, pid: int = 100,
             name: str = "task1", outcome: str = "succeeded") -> None:
        """A job received and started on `node` at `start`, ending with `outcome` at `end` (None: still running)."""
        self.event("task-received", start, node, uuid=task_id, name=name, pid=pid, retries=0)
        self.event("task-started", start, node, uuid=task_id, pid=pid)
        if end is not None:
            self.event(f"task-{outcome}", end, node, uuid=task_id, pid=pid)

    def view(self, now: float, window_s: float = 10.0, width: int = 80, start: float | None = 0.0, **kw):
        return lanes(snapshot(self.state, EVENTS_T0 + now), EVENTS_T0 + now, window_s, width,
                     start=None if start is None else EVENTS_T0 + start, **kw)


def doc_block(doc: Path, first: str) -> str:
    """The one fenced block of `doc` whose first line starts with `first`, without its closing newline."""
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", doc.read_text(), flags=re.S | re.M)
    found = [block.rstrip("\n") for block in blocks if block.startswith(first)]
    assert len(found) == 1, f"{doc.name} has {len(found)} blocks starting with {first!r}"
    return found[0]


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    """Every command and subcommand of `group`, with its full name ("local up")."""
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix}{name} ")
    return found
