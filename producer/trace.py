"""The run in Chrome's Trace Event format, for Perfetto (ui.perfetto.dev) or chrome://tracing.

One process per worker container, one thread (track) per worker process, one complete
slice ("X") per job; the producer's submit and receive instants sit on a track of their own.
Times are microseconds from the first submit. Format reference:
https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

PRODUCER_PID = 0


def _us(stamp: str | datetime, origin: datetime) -> float:
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return round((moment - origin).total_seconds() * 1e6, 3)


def build_trace(results: list[dict[str, Any]], summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trace events for `--json`-style results (submitted_at, and received_at when known)."""
    if not results:
        return {"traceEvents": [], "displayTimeUnit": "ms"}
    origin = min(datetime.fromisoformat(r["submitted_at"]) for r in results)
    done = [r for r in results if r.get("status", "SUCCESS") == "SUCCESS" and "started_at" in r]
    workers = sorted({r["worker"] for r in done})
    pid_of = {worker: i + 1 for i, worker in enumerate(workers)}
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": PRODUCER_PID, "args": {"name": "producer"}},
        {"ph": "M", "name": "process_sort_index", "pid": PRODUCER_PID, "args": {"sort_index": 0}},
        {"ph": "M", "name": "thread_name", "pid": PRODUCER_PID, "tid": 0, "args": {"name": "submit / receive"}},
    ]
    for worker, pid in pid_of.items():
        events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": worker}})
        events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "args": {"sort_index": pid}})
    for worker, os_pid in sorted({(r["worker"], r["pid"]) for r in done}):
        events.append({"ph": "M", "name": "thread_name", "pid": pid_of[worker], "tid": os_pid,
                        "args": {"name": f"pid {os_pid}"}})
    for r in done:
        start = _us(r["started_at"], origin)
        events.append({
            "ph": "X", "name": r["task"], "cat": r.get("kind", "job"), "pid": pid_of[r["worker"]], "tid": r["pid"],
            "ts": start, "dur": round(_us(r["finished_at"], origin) - start, 3),
            "args": {"task_id": r["task_id"], "runtime_s": r["runtime_s"], "attempt": r.get("attempt", 1),
                     "redelivered": r.get("redelivered", False),
                     "queued_s": round((start - _us(r["submitted_at"], origin)) / 1e6, 6)},
        })
    for r in results:
        events.append({"ph": "i", "s": "t", "name": f"submit {r['task']}", "pid": PRODUCER_PID, "tid": 0,
                       "ts": _us(r["submitted_at"], origin), "args": {"task_id": r["task_id"]}})
        if r.get("received_at"):
            events.append({"ph": "i", "s": "t", "name": f"receive {r['task']}", "pid": PRODUCER_PID, "tid": 0,
                           "ts": _us(r["received_at"], origin),
                           "args": {"task_id": r["task_id"], "status": r.get("status")}})
    trace: dict[str, Any] = {"traceEvents": events, "displayTimeUnit": "ms"}
    if summary:
        trace["otherData"] = {k: str(v) for k, v in summary.items()}
    return trace


def write_trace(path: Path, results: list[dict[str, Any]], summary: dict[str, Any] | None = None) -> None:
    """Write the trace as JSON to `path`."""
    path.write_text(json.dumps(build_trace(results, summary)))
