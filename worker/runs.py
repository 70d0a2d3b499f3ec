"""Every start and end of a job, kept in Redis, so a job that ran twice is never silent.

Celery's result backend keeps one result per task id: a job run twice (a paused container
that wakes up, a network split, a visibility timeout shorter than the job) stores it twice
and the producer sees one. So each run of task1/task2 appends `started` and `finished`
entries to a list of its own, `runs:<task id>` in the results database (expiring with the
results). From it the producer reports duplicates, and a job that killed its worker again
and again (a start with no end, three times) is failed instead of run once more.

A run can also end without finishing: its worker was fenced off by the recovery service (a
vanished or frozen host) or cancelled it because its connection to Redis was lost. Such a
run is `interrupted`: neither a death of the worker (only those count towards the
poison-job limit) nor, unless it later finished after all, a duplicate.

The rules are pure functions of the entries (unit-tested); the Redis calls are one
non-transactional pipeline each (appends need no MULTI/EXEC: each entry stands alone).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from worker.records import iso

#: The key namespace this module owns in the results database.
PREFIX = "runs:"
#: Why the recovery service ends a cut-off or frozen worker's runs: such a copy may still run.
FENCED = "fenced off (host cut off or frozen)"
#: Why a worker ends its own run: Celery cancels what it runs when its connection to Redis is lost
#: (worker.tasks.JobRequest), and the job runs again. Not a death, not a fence.
CANCELLED = "cancelled: its worker lost Redis"


def key(task_id: str) -> str:
    return f"{PREFIX}{task_id}"


@dataclass(frozen=True)
class Run:
    """One run of one attempt of a job: where and when it started, and when it ended (None: never, yet)."""

    worker: str
    pid: int
    attempt: int
    started_at: datetime
    finished_at: datetime | None = None
    interrupted: str | None = None  # why it ended unfinished (fenced, connection lost), if it did
    interrupted_at: datetime | None = None  # when, as the interruption's writer saw it

    @property
    def ident(self) -> str:
        return f"{self.worker}/{self.pid}/{iso(self.started_at)}"

    def describe(self) -> str:
        """`worker@a pid 8 at 12:00:01.2` (and `, still running or lost` when it never ended)."""
        end = "" if self.finished_at else f", {self.interrupted}" if self.interrupted else ", never finished"
        return f"{self.worker} pid {self.pid} at {self.started_at:%H:%M:%S.%f}"[:-5] + end

    def shifted(self, seconds: float) -> Run:
        """The same run with its times moved by `seconds` (onto another clock, as JobRecord.shifted)."""
        delta = timedelta(seconds=seconds)
        return replace(self, started_at=self.started_at + delta,
                       finished_at=None if self.finished_at is None else self.finished_at + delta,
                       interrupted_at=None if self.interrupted_at is None else self.interrupted_at + delta)


def entry(event: str, worker: str, pid: int, attempt: int, started_at: datetime, at: datetime) -> str:
    """One list entry (JSON): `started` when a run begins, `finished` when it ends either way."""
    return json.dumps({"event": event, "worker": worker, "pid": pid, "attempt": attempt,
                       "started_at": iso(started_at), "at": iso(at)})


def interruption(worker: str, pid: int | None, why: str, at: datetime) -> str:
    """An entry that ends, unfinished, the runs of `worker` (of process `pid`, if given) recorded before it.

    Before it in the list, not before `at` (which is for the reader): the list's order is
    Redis's, one order for every writer, where clocks on several machines may disagree.
    """
    return json.dumps({"event": "interrupted", "worker": worker, "pid": pid, "why": why, "at": iso(at)})


def parse(entries: Iterable[bytes | str]) -> list[Run]:
    """The runs an entry list tells of, in the order they started; unreadable entries skipped."""
    runs: dict[tuple[str, int, str], Run] = {}
    position: dict[tuple[str, int, str], int] = {}  # where each run's first entry stands in the list
    interruptions: list[tuple[int, dict[str, Any]]] = []
    for index, raw in enumerate(entries):
        try:
            data: dict[str, Any] = json.loads(raw)
            if data["event"] == "interrupted":
                interruptions.append((index, {"worker": data["worker"], "pid": data.get("pid"),
                                              "why": str(data.get("why") or "interrupted"),
                                              "at": _moment(data.get("at"))}))
                continue
            ident = (data["worker"], int(data["pid"]), data["started_at"])
            started = datetime.fromisoformat(data["started_at"])
            position.setdefault(ident, index)
            if data["event"] == "started":
                runs.setdefault(ident, Run(data["worker"], int(data["pid"]), int(data["attempt"]), started))
            elif data["event"] == "finished":
                run = runs.get(ident) or Run(data["worker"], int(data["pid"]), int(data["attempt"]), started)
                runs[ident] = replace(run, finished_at=datetime.fromisoformat(data["at"]), interrupted=None,
                                      interrupted_at=None)
        except (ValueError, KeyError, TypeError):
            continue
    for index, cut in interruptions:  # a finished run stays finished, whatever came after it
        for ident, run in runs.items():
            if (run.finished_at is None and run.interrupted is None and run.worker == cut["worker"]
                    and cut["pid"] in (None, run.pid) and position[ident] < index):
                runs[ident] = replace(run, interrupted=cut["why"], interrupted_at=cut["at"])
    return sorted(runs.values(), key=lambda r: r.started_at)


def _moment(text: Any) -> datetime | None:
    """An entry's ISO time, or None when it has none or an unreadable one (the reason still counts)."""
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def fenced_off(entries: Iterable[bytes | str], run: Run) -> str | None:
    """Why `run` was ended before it finished (an interruption of its worker, of its pid or of any,
    after its start and before its finish in the list), or None: then its outcome counts.

    The fence: a worker fenced off (cut off, frozen) or that cancelled the run itself may still
    reach its end; another copy was handed on meanwhile, and that one's outcome is the job's."""
    started = False
    for raw in entries:
        try:
            data = json.loads(raw)
            mine = data["worker"] == run.worker
            if data["event"] == "started" and mine and int(data["pid"]) == run.pid \
                    and data["started_at"] == iso(run.started_at):
                started = True
            elif started and data["event"] == "interrupted" and mine and data.get("pid") in (None, run.pid):
                return str(data.get("why") or "interrupted")
            elif started and data["event"] == "finished" and mine and int(data["pid"]) == run.pid \
                    and data["started_at"] == iso(run.started_at):
                return None
        except (ValueError, KeyError, TypeError):
            continue
    return None


def never_finished(runs: Iterable[Run], attempt: int) -> list[Run]:
    """Runs of `attempt` that started and never ended, nor were interrupted: when it starts again, each
    took its worker down with it (a death)."""
    return [r for r in runs if r.attempt == attempt and r.finished_at is None and r.interrupted is None]


def duplicate_runs(runs: Iterable[Run]) -> list[Run]:
    """The runs of a job that ran more than once at the same attempt; empty when it ran once.

    Per attempt, the first run that finished is the one kept. Another run is a duplicate when
    it finished too, or started after the kept one started (it runs, or ran, beside it). A
    run that started earlier and never finished is not: its worker died and the job was
    handed on, which is a redelivery, not a duplicate.
    """
    by_attempt: dict[int, list[Run]] = {}
    for run in runs:
        by_attempt.setdefault(run.attempt, []).append(run)
    twice: list[Run] = []
    for same in by_attempt.values():
        same.sort(key=lambda r: r.started_at)
        kept = next((r for r in same if r.finished_at is not None), None)
        if kept is None:
            continue
        extra = [r for r in same if r is not kept and (r.finished_at is not None or r.started_at > kept.started_at)]
        if extra:
            twice += sorted([kept, *extra], key=lambda r: r.started_at)
    return twice


# --- Redis ------------------------------------------------------------------------------------

def record_start(client: Any, task_id: str, run: Run, expires_s: int) -> list[Run]:
    """Append `run`'s start; returns the runs recorded before it (one round trip)."""
    pipe = client.pipeline(transaction=False)
    pipe.lrange(key(task_id), 0, -1)
    pipe.rpush(key(task_id), entry("started", run.worker, run.pid, run.attempt, run.started_at, run.started_at))
    pipe.expire(key(task_id), expires_s)
    before, *_ = pipe.execute()
    return parse(before)


def record_finish(client: Any, task_id: str, run: Run, finished_at: datetime, expires_s: int) -> str | None:
    """Append `run`'s finish and read the list back in one atomic step (MULTI/EXEC: nothing comes
    between); returns why the run was fenced off before it finished (`fenced_off`), or None."""
    pipe = client.pipeline(transaction=True)
    pipe.rpush(key(task_id), entry("finished", run.worker, run.pid, run.attempt, run.started_at, finished_at))
    pipe.expire(key(task_id), expires_s)
    pipe.lrange(key(task_id), 0, -1)
    *_, entries = pipe.execute()
    return fenced_off(entries, run)


def record_interruption(client: Any, task_ids: Iterable[str], worker: str, pid: int | None, why: str,
                        at: datetime, expires_s: int) -> None:
    """End, unfinished, the runs `worker` (process `pid`) had started of these jobs before `at` (one round trip)."""
    pipe = client.pipeline(transaction=False)
    for task_id in task_ids:
        pipe.rpush(key(task_id), interruption(worker, pid, why, at))
        pipe.expire(key(task_id), expires_s)
    pipe.execute()


def read_runs(client: Any, task_ids: list[str]) -> dict[str, list[Run]]:
    """The runs of each task id, in one pipelined round trip."""
    pipe = client.pipeline(transaction=False)
    for task_id in task_ids:
        pipe.lrange(key(task_id), 0, -1)
    return {task_id: parse(entries) for task_id, entries in zip(task_ids, pipe.execute(), strict=True)}
