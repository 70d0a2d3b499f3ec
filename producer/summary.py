"""The figures that say whether a batch ran in parallel: pure functions of the result records."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def peak_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """Most jobs running at the same instant; 1 means strictly one after another.

    A job that starts exactly when another finishes does not overlap it.
    """
    events = sorted([(s, 1) for s, _ in intervals] + [(f, -1) for _, f in intervals], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def verdict(peak: int, workers_used: int, speedup: float | None) -> str:
    """One line in the course page's words: parallel, concurrent on one worker, or sequential."""
    faster = f"{speedup:.2f}x faster than one after another" if speedup else "no faster than one after another"
    if peak <= 1:
        return f"ran one after another: {faster}" if speedup and speedup >= 1.05 else "ran one after another"
    if workers_used > 1:
        return f"ran in parallel on {workers_used} workers: {faster}"
    return f"ran concurrently on 1 worker (up to {peak} at once): {faster}"


def summarize(
    records: list[dict[str, Any]],
    *,
    jobs: int,
    duration_s: float,
    wall_s: float,
    slots_online: int,
) -> dict[str, Any]:
    """The summary of a batch (see DESIGN.md): counts, wall vs sequential time, speedup, efficiency.

    `records` are the successful jobs' result records; `jobs` counts every submitted job.
    """
    intervals = [(datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"])) for r in records]
    sequential_s = sum(r["runtime_s"] for r in records)
    workers_used = len({r["worker"] for r in records})
    ideal_wall_s = math.ceil(jobs / slots_online) * duration_s if slots_online else None
    speedup = sequential_s / wall_s if wall_s > 0 and records else None
    efficiency = ideal_wall_s / wall_s if ideal_wall_s is not None and wall_s > 0 else None
    peak = peak_overlap(intervals)
    return {
        "jobs": jobs,
        "succeeded": len(records),
        "failed": jobs - len(records),
        "workers_used": workers_used,
        "slots_online": slots_online,
        "peak_overlap": peak,
        "redelivered": sum(1 for r in records if r.get("redelivered")),
        "retried": sum(1 for r in records if r.get("attempt", 1) > 1),
        "duration_s": duration_s,
        "wall_s": round(wall_s, 6),
        "sequential_s": round(sequential_s, 6),
        "ideal_wall_s": ideal_wall_s,
        "speedup": round(speedup, 3) if speedup is not None else None,
        "efficiency": round(efficiency, 3) if efficiency is not None else None,
        "verdict": verdict(peak, workers_used, speedup),
    }
