"""The run in Chrome's Trace Event format, for Perfetto (ui.perfetto.dev) or chrome://tracing.

One process per worker container, one thread (track) per worker slot, one complete slice
("X") per job; the producer's submit and receive instants sit on a track of their own.
When the events were followed (producer.story), each job's wait is split into async slices,
"queued" (in Redis, on the producer's process) and "reserved" (taken off the queue by a
worker, waiting for a free slot, on that worker's process). Every other run of a job (lost
with its worker, cancelled, failed and retried, still running: producer.story.placed_attempts)
is a slice "task1 (lost)", "task1 (cancelled)"... on the track of the slot that ran it.
Times are microseconds from the first submit, on the producer's clock (the batch's story, producer.story).
Format reference: https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from producer.figures import Summary
from producer.jobs import END_WORDS, Outcome, Status
from producer.story import Story, host_of, placed_attempts
from producer.views.timeline import slot_labels

PRODUCER_PID = 0


def _us(moment: datetime, origin: datetime) -> float:
    return round((moment - origin).total_seconds() * 1e6, 3)


def build_trace(story: Story, summary: Summary | None = None) -> dict[str, Any]:
    """Trace events for a batch's story (failed jobs that ran are drawn too, named so)."""
    outcomes = list(story.outcomes)
    if not outcomes:
        return {"traceEvents": [], "displayTimeUnit": "ms"}
    origin = min(o.submitted_at for o in outcomes)
    ran = [o for o in outcomes if o.record is not None]
    labels = slot_labels(outcomes)
    hosts = sorted({host for host, _, _ in labels})
    pid_of = {host: i + 1 for i, host in enumerate(hosts)}
    tid_of = {key: i + 1 for i, key in enumerate(sorted(labels))}
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": PRODUCER_PID, "args": {"name": "producer"}},
        {"ph": "M", "name": "process_sort_index", "pid": PRODUCER_PID, "args": {"sort_index": 0}},
        {"ph": "M", "name": "thread_name", "pid": PRODUCER_PID, "tid": 0, "args": {"name": "submit / receive"}},
    ]
    for host, pid in pid_of.items():
        events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": host}})
        events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "args": {"sort_index": pid}})
    for key, label in sorted(labels.items()):
        events.append({"ph": "M", "name": "thread_name", "pid": pid_of[key[0]], "tid": tid_of[key],
                       "args": {"name": label}})
    for o in ran:
        r = o.record
        assert r is not None
        start = _us(r.started_at, origin)
        args = {"task_id": r.task_id, "runtime_s": r.runtime_s, "cpu_s": r.cpu_s, "attempt": r.attempt,
                "redelivered": r.redelivered, "status": o.status,
                "queued_s": round((start - _us(o.submitted_at, origin)) / 1e6, 6)}
        if (reserved := o.reserved) is not None:
            args["reserved_s"] = round((reserved[1] - reserved[0]).total_seconds(), 6)
        events.append({
            "ph": "X", "name": r.task if o.status == Status.SUCCESS else f"{r.task} (failed)", "cat": r.kind,
            "pid": pid_of[r.hostname], "tid": tid_of[r.slot_key], "ts": start,
            "dur": round(_us(r.finished_at, origin) - start, 3), "args": args,
        })
    for o in outcomes:
        events.append({"ph": "i", "s": "t", "name": f"submit {o.job.task}", "pid": PRODUCER_PID, "tid": 0,
                       "ts": _us(o.submitted_at, origin), "args": {"task_id": o.task_id}})
        if o.received_at is not None:
            events.append({"ph": "i", "s": "t", "name": f"receive {o.job.task}", "pid": PRODUCER_PID, "tid": 0,
                           "ts": _us(o.received_at, origin), "args": {"task_id": o.task_id, "status": o.status}})
    for o, lost, key in placed_attempts(outcomes):
        start, said = _us(lost.started_at, origin), END_WORDS[lost.end]
        args = {"task_id": o.task_id, "worker": lost.worker, "status": said} | ({"why": lost.why} if lost.why else {})
        events.append({"ph": "X", "name": f"{o.job.task} ({said})", "cat": o.job.kind, "pid": pid_of[key[0]],
                       "tid": tid_of[key], "ts": start, "dur": round(_us(lost.ended_at, origin) - start, 3),
                       "args": args})
    for o in outcomes:
        events += _waits(o, origin, pid_of)
    trace: dict[str, Any] = {"traceEvents": events, "displayTimeUnit": "ms"}
    if summary:
        trace["otherData"] = {k: str(v) for k, v in summary.as_json().items()}
    return trace


def _waits(o: Outcome, origin: datetime, pid_of: dict[str, int]) -> list[dict[str, Any]]:
    """A seen job's waits as async slices (begin "b", end "e", one id per job): queued, then reserved."""
    if o.seen is None:
        return []
    spans = [("queued", since, until, PRODUCER_PID) for since, until, _ in o.queue_waits()]
    if (reserved := o.reserved) is not None and o.seen.received_by is not None:
        spans.append(("reserved", *reserved, pid_of.get(host_of(o.seen.received_by), PRODUCER_PID)))
    slices = []
    for name, since, until, pid in spans:
        common = {"cat": "wait", "name": name, "id": o.task_id, "pid": pid, "tid": 0}
        slices.append({"ph": "b", **common, "ts": _us(since, origin), "args": {"task": o.job.task}})
        slices.append({"ph": "e", **common, "ts": _us(until, origin)})
    return slices


def write_trace(path: Path, story: Story, summary: Summary | None = None) -> None:
    """Write the trace as JSON to `path`."""
    path.write_text(json.dumps(build_trace(story, summary)))
