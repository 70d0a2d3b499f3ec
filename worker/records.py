"""What a job is asked to do and what it reports: argument checks and the result record.

Pure functions and one typed record, no I/O, so the rules are unit-tested without a broker.
The worker builds a `JobRecord` and returns its JSON form; the producer parses that once
(`JobRecord.from_json`) and works with datetimes from then on.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

#: Longest job a caller may ask for, in seconds; keeps a typo from tying up a worker for days.
MAX_DURATION_S = 3600.0
#: What a job does while it lasts: `sleep` waits (needs no CPU), `cpu` burns pure-Python CPU.
KINDS = ("sleep", "cpu")
#: How a job may be asked to fail, to show what the cluster does then: `always` fails for
#: good (not retried), `once` fails on its first attempt only (retried with backoff),
#: `crash` kills the process running it (SIGKILL, as a segfault would), every time.
FAIL_MODES = ("always", "once", "crash")
#: Longest a job waits for the one cup (a Redis lock) before it fails, rather than wait forever
#: behind a cup nobody gives back. The quiz's turns take a few seconds.
CUP_WAIT_MAX_S = 60.0
#: Characters a cup's name may use: it becomes part of a Redis key (cup:<name>).
CUP_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
#: How a worker runs several jobs at once: processes, threads, greenlets, or one at a time.
POOLS = ("prefork", "threads", "gevent", "solo")


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


def check_cup(cup: Any) -> float:
    """Return the share (0 to 1) of a job's duration that needs the one cup, 0.0 for None.

    The course page's "multiple people take turns drinking from a cup": that share of the
    job holds a lock in Redis, so only one job at a time spends it.
    """
    if cup is None:
        return 0.0
    if isinstance(cup, bool) or not isinstance(cup, (int, float)) or not math.isfinite(cup) or not 0 <= cup <= 1:
        raise ValueError(f"cup must be a share of the duration between 0 and 1, got {cup!r}")
    return float(cup)


def check_cup_name(name: Any) -> str:
    """Return the cup's name if it is 1 to 100 letters, digits or -_. , or raise ValueError."""
    if not isinstance(name, str) or not 1 <= len(name) <= 100 or not set(name) <= CUP_NAME_CHARS:
        raise ValueError(f"cup_name must be 1 to 100 letters, digits, '-', '_' or '.', got {name!r}")
    return name


def utc_now() -> datetime:
    """The current time in UTC, timezone-aware."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 with microseconds and offset, e.g. 2026-11-24T19:22:43.644370+00:00."""
    return moment.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class JobRecord:
    """Who ran a job, where, when and at what cost: what task1/task2 return (as JSON).

    `slot` tells apart jobs that run at once inside one process (a thread or greenlet id;
    the pid for a process pool); `cpus` is how many CPUs that process may use, `machine`
    which kernel it runs on (containers of one host share it, so they share its CPUs).
    """

    task: str
    task_id: str
    kind: str
    duration_s: float  # what the job was asked to take
    worker: str  # Celery node name, e.g. worker@a904c1d2e3f4
    hostname: str  # the container (or host) it ran in
    pid: int
    slot: str
    pool: str
    cpus: float
    machine: str
    started_at: datetime
    finished_at: datetime
    runtime_s: float  # measured on the worker's monotonic clock
    cpu_s: float  # CPU time the job's thread used
    attempt: int = 1
    redelivered: bool = False
    # Jobs that share the one cup (a Redis lock; the quiz): the share of the duration asked to
    # need it, how long this one waited for it, then held it. Its wait ends `cup_s` before it
    # finished. Left out of the JSON when the job did not use the cup.
    cup: float = 0.0
    waited_for_cup_s: float = 0.0
    cup_s: float = 0.0
    # The job's run list (worker.runs) could not be written while it ran (Redis unreachable):
    # the job's own outcome stands, and its runs may be under-counted. Left out when False.
    run_list_gap: bool = False

    @property
    def slot_key(self) -> tuple[str, int, str]:
        """What identifies one parallel slot: (container or host, process, thread or greenlet)."""
        return (self.hostname, self.pid, self.slot)

    @property
    def cup_wait(self) -> tuple[datetime, datetime] | None:
        """When this job waited for the cup (start, end), on the record's clock; None if it did not."""
        if not self.waited_for_cup_s:
            return None
        end = self.finished_at - timedelta(seconds=self.cup_s)
        if self.cup >= 1:  # nothing to do before the cup: it waited from its start
            return self.started_at, end
        return max(self.started_at, end - timedelta(seconds=self.waited_for_cup_s)), end

    @property
    def stretch(self) -> float | None:
        """Measured run time over the asked duration: above 1 when the job waited for a CPU."""
        return self.runtime_s / self.duration_s if self.duration_s > 0 else None

    def shifted(self, seconds: float) -> JobRecord:
        """The same record with its timestamps moved by `seconds` (onto another clock)."""
        delta = timedelta(seconds=seconds)
        return replace(self, started_at=self.started_at + delta, finished_at=self.finished_at + delta)

    def to_json(self) -> dict[str, Any]:
        """The JSON-safe form a task returns (timestamps as ISO 8601 strings)."""
        data = asdict(self)
        data["started_at"], data["finished_at"] = iso(self.started_at), iso(self.finished_at)
        data["runtime_s"], data["cpu_s"] = round(self.runtime_s, 6), round(self.cpu_s, 6)
        if self.cup:
            data["waited_for_cup_s"], data["cup_s"] = round(self.waited_for_cup_s, 6), round(self.cup_s, 6)
        else:  # a job without the cup: the record every other command knows
            del data["cup"], data["waited_for_cup_s"], data["cup_s"]
        if not self.run_list_gap:
            del data["run_list_gap"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        """Parse a task's result once; raises ValueError when it is not a result record."""
        try:
            return cls(**{**data, "started_at": datetime.fromisoformat(data["started_at"]),
                          "finished_at": datetime.fromisoformat(data["finished_at"])})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a result record: {exc}") from None
