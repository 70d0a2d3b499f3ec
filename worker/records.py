"""What a job is asked to do and what it reports: argument checks and the result record.

Pure functions, no I/O, so the rules are unit-tested without a broker.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

#: Longest job a caller may ask for, in seconds; keeps a typo from tying up a worker for days.
MAX_DURATION_S = 3600.0
#: What a job does while it lasts: `sleep` waits (needs no CPU), `cpu` burns pure-Python CPU.
KINDS = ("sleep", "cpu")
#: How a job may be asked to fail, to show what the cluster does then: `always` fails for
#: good (not retried), `once` fails on its first attempt only (retried with backoff).
FAIL_MODES = ("always", "once")


def check_duration(duration: Any) -> float:
    """Return `duration` as seconds, or raise ValueError saying what a valid one looks like."""
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise ValueError(f"duration must be a number of seconds, got {duration!r}")
    if not math.isfinite(duration) or not 0 <= duration <= MAX_DURATION_S:
        raise ValueError(f"duration must be between 0 and {MAX_DURATION_S:g} seconds, got {duration!r}")
    return float(duration)


def check_kind(kind: Any) -> str:
    """Return `kind` if it is one of KINDS, or raise ValueError naming the valid ones."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind


def check_fail(fail: Any) -> str | None:
    """Return `fail` if it is None or one of FAIL_MODES, or raise ValueError naming them."""
    if fail is not None and fail not in FAIL_MODES:
        raise ValueError(f"fail must be one of {', '.join(FAIL_MODES)} or null, got {fail!r}")
    return fail


def utc_now() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 with microseconds and offset, e.g. 2026-11-24T19:22:43.644370+00:00."""
    return moment.isoformat(timespec="microseconds")


def make_record(
    *,
    task: str,
    task_id: str,
    kind: str,
    worker: str,
    hostname: str,
    pid: int,
    started_at: datetime,
    finished_at: datetime,
    runtime_s: float,
    attempt: int = 1,
    redelivered: bool = False,
) -> dict[str, Any]:
    """The result record a job returns: who ran it, when, and for how long (JSON-safe)."""
    return {
        "task": task,
        "task_id": task_id,
        "kind": kind,
        "worker": worker,
        "hostname": hostname,
        "pid": pid,
        "started_at": iso(started_at),
        "finished_at": iso(finished_at),
        "runtime_s": round(runtime_s, 6),
        "attempt": attempt,
        "redelivered": redelivered,
    }
