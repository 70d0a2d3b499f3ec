"""Every start and end of a job, kept in Redis, so a job that ran twice is never silent.

Celery's result backend keeps one result per task id: a job run twice (a paused container
that wakes up, a network split, a visibility timeout shorter than the job) stores it twice
and the producer sees one. So each run of a job appends `started` and `finished` entries to
a list of its own, `runs:<task id>` in the results database (expiring with the results).
From it the producer reports duplicates, and a job that took its worker down again and again
(a start with no end, three times) is failed instead of run once more.

The entries ride the round trips a job makes anyway. The start is written by the worker's
claim of the job (worker/layout.py's CLAIM, the same Lua step that moves it into kombu's
`unacked`), which hands the runs recorded before it to the task in a message header
(CLAIM_HEADER): a run is named by its worker and the moment it was claimed. The finish is
written by the same Lua step as the job's result (FINISH, in place of Celery's read of the
stored state and its SETEX and PUBLISH). So a worker's pool process makes one Redis round
trip per job where Celery's own makes two. Where the results live on another Redis server
than the jobs, the script cannot reach them: the pool process then writes the start itself
(`record_start`) and the run is named by its process and start.

A run can also end without finishing: its worker was fenced off by the recovery service (a
vanished or frozen host) or cancelled it because its connection to Redis was lost. Such a
run is `interrupted`: neither a death of the worker (only those count towards the
poison-job limit) nor, unless it later finished after all, a duplicate.

The rules are pure functions of the entries (unit-tested), but for the fence, which the
FINISH script applies where the result is written (tests/integration/test_run_list_scripts.py).
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
#: Why a worker ends the run of a job it claimed and puts back (kombu's restore of what it holds
#: unacknowledged as a channel closes: it stops, never started or cut short by a cold shutdown, or a
#: connection it lost is closed). Not a death.
PUT_BACK = "put back by its worker (it stopped, or lost its connection)"
#: The message header in which a worker's claim hands the task its run: {"worker", "started_at",
#: "attempt", "before": the entries recorded before it}. Celery puts headers on `task.request`.
CLAIM_HEADER = "run_claim"


def key(task_id: str) -> str:
    return f"{PREFIX}{task_id}"


@dataclass(frozen=True)
class Run:
    """One run of one attempt of a job: where and when it started, and when it ended (None: never, yet)."""

    worker: str
    pid: int | None  # the process that ran it, once known: a claimed run's comes with its finish
    attempt: int
    started_at: datetime  # when its worker claimed the job (or, with the results elsewhere, started it)
    finished_at: datetime | None = None
    interrupted: str | None = None  # why it ended unfinished (fenced, connection lost), if it did
    interrupted_at: datetime | None = None  # when, as the interruption's writer saw it

    @property
    def ident(self) -> str:
        """What names a run in its list: its worker and the moment it started there (unique per worker)."""
        return f"{self.worker}/{iso(self.started_at)}"

    def describe(self) -> str:
        """`worker@a pid 8 at 12:00:01.2` (and `, never finished` when it never ended)."""
        end = "" if self.finished_at else f", {self.interrupted}" if self.interrupted else ", never finished"
        pid = "" if self.pid is None else f" pid {self.pid}"
        return f"{self.worker}{pid} at {self.started_at:%H:%M:%S.%f}"[:-5] + end

    def shifted(self, seconds: float) -> Run:
        """The same run with its times moved by `seconds` (onto another clock, as JobRecord.shifted)."""
        delta = timedelta(seconds=seconds)
        return replace(self, started_at=self.started_at + delta,
                       finished_at=None if self.finished_at is None else self.finished_at + delta,
                       interrupted_at=None if self.interrupted_at is None else self.interrupted_at + delta)


def entry(event: str, worker: str, pid: int | None, attempt: int, started_at: datetime, at: datetime) -> str:
    """One list entry (JSON): `started` when a run begins, `finished` when it ends either way."""
    return json.dumps({"event": event, "worker": worker, "pid": pid, "attempt": attempt,
                       "started_at": iso(started_at), "at": iso(at)})


def interruption(worker: str, run: datetime | None, why: str, at: datetime) -> str:
    """An entry that ends, unfinished, the runs of `worker` (only the one started at `run`, if given)
    recorded before it.

    Before it in the list, not before `at` (which is for the reader): the list's order is
    Redis's, one order for every writer, where clocks on several machines may disagree.
    """
    return json.dumps({"event": "interrupted", "worker": worker, "run": None if run is None else iso(run),
                       "why": why, "at": iso(at)})


def parse(entries: Iterable[bytes | str]) -> list[Run]:
    """The runs an entry list tells of, in the order they started; unreadable entries skipped."""
    runs: dict[tuple[str, str], Run] = {}
    position: dict[tuple[str, str], int] = {}  # where each run's first entry stands in the list
    interruptions: list[tuple[int, dict[str, Any]]] = []
    for index, raw in enumerate(entries):
        try:
            data: dict[str, Any] = json.loads(raw)
            if data["event"] == "interrupted":
                interruptions.append((index, {"worker": data["worker"], "run": data.get("run"),
                                              "why": str(data.get("why") or "interrupted"),
                                              "at": _moment(data.get("at"))}))
                continue
            ident = (data["worker"], data["started_at"])
            started = datetime.fromisoformat(data["started_at"])
            pid = None if data.get("pid") is None else int(data["pid"])
            position.setdefault(ident, index)
            if data["event"] == "started":
                runs.setdefault(ident, Run(data["worker"], pid, int(data["attempt"]), started))
            elif data["event"] == "finished":
                run = runs.get(ident) or Run(data["worker"], pid, int(data["attempt"]), started)
                runs[ident] = replace(run, pid=pid if pid is not None else run.pid,
                                      finished_at=datetime.fromisoformat(data["at"]), interrupted=None,
                                      interrupted_at=None)
        except (ValueError, KeyError, TypeError):
            continue
    for index, cut in interruptions:  # a finished run stays finished, whatever came after it
        for ident, run in runs.items():
            if (run.finished_at is None and run.interrupted is None and run.worker == cut["worker"]
                    and cut["run"] in (None, ident[1]) and position[ident] < index):
                runs[ident] = replace(run, interrupted=cut["why"], interrupted_at=cut["at"])
    return sorted(runs.values(), key=lambda r: r.started_at)


def _moment(text: Any) -> datetime | None:
    """An entry's ISO time, or None when it has none or an unreadable one (the reason still counts)."""
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
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

@dataclass(frozen=True)
class Claimed:
    """A run as its worker's claim recorded it (CLAIM_HEADER), and the runs recorded before it."""

    run: Run
    before: list[Run]

    @classmethod
    def from_header(cls, header: Any) -> Claimed | None:
        """The claim a task's request carries; None without one (the results on another Redis) or unreadable."""
        try:
            run = Run(header["worker"], None, int(header["attempt"]), datetime.fromisoformat(header["started_at"]))
            return cls(run, parse(header["before"]))
        except (KeyError, TypeError, ValueError):
            return None


def claim_header(worker: str, attempt: int, started_at: datetime, before: Iterable[bytes | str]) -> dict[str, Any]:
    """What a worker's claim hands its task (CLAIM_HEADER): the run it recorded and the entries before it."""
    return {"worker": worker, "attempt": attempt, "started_at": iso(started_at),
            "before": [raw.decode() if isinstance(raw, bytes) else raw for raw in before]}


def record_start(client: Any, task_id: str, run: Run, expires_s: int) -> list[Run]:
    """Append `run`'s start; returns the runs recorded before it (one round trip). Only where the
    worker's claim could not (the results on another Redis than the jobs)."""
    pipe = client.pipeline(transaction=False)
    pipe.lrange(key(task_id), 0, -1)
    pipe.rpush(key(task_id), entry("started", run.worker, run.pid, run.attempt, run.started_at, run.started_at))
    pipe.expire(key(task_id), expires_s)
    before, *_ = pipe.execute()
    return parse(before)


@dataclass(frozen=True)
class Result:
    """A job's result as Celery's Redis backend would store it: its key, the encoded state, how long kept."""

    key: bytes | str
    value: bytes | str
    expires_s: int | None


#: Append a run's finish to its list KEYS[1] (ARGV[1]; the list kept ARGV[4] s) and tell whether
#: the run was fenced off before it: an `interrupted` entry of its worker (ARGV[2]), of every run or
#: of this one (started at ARGV[3]), after its start and before an earlier finish of it. Not
#: fenced and given a result (ARGV[5], for KEYS[2], kept ARGV[6] s, 0: for ever): store and publish
#: it as Celery's Redis backend does (SETEX, PUBLISH on the key), unless a success is stored already
#: (Celery's own check against a late copy). Returns {"fenced", why} or {"ended"}: one atomic step.
FINISH = """
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local started = false
for _, raw in ipairs(entries) do
  local ok, e = pcall(cjson.decode, raw)
  if ok and type(e) == 'table' and e.worker == ARGV[2] then
    if e.event == 'started' and e.started_at == ARGV[3] then
      started = true
    elseif started and e.event == 'finished' and e.started_at == ARGV[3] then
      break
    elseif started and e.event == 'interrupted' and (e.run == nil or e.run == cjson.null or e.run == ARGV[3]) then
      local why = e.why
      if type(why) ~= 'string' or why == '' then why = 'interrupted' end
      return {'fenced', why}
    end
  end
end
if ARGV[5] ~= '' then
  local current = redis.call('GET', KEYS[2])
  if current then
    local ok, meta = pcall(cjson.decode, current)
    if ok and type(meta) == 'table' and meta.status == 'SUCCESS' then return {'ended'} end
  end
  if tonumber(ARGV[6]) > 0 then
    redis.call('SETEX', KEYS[2], ARGV[6], ARGV[5])
  else
    redis.call('SET', KEYS[2], ARGV[5])
  end
  redis.call('PUBLISH', KEYS[2], ARGV[5])
end
return {'ended'}
"""


def record_finish(client: Any, task_id: str, run: Run, finished_at: datetime, expires_s: int,
                  result: Result | None = None) -> str | None:
    """Append `run`'s finish and, unless it was fenced off before it finished, store its `result`
    (one atomic step, one round trip: FINISH). Returns why it was fenced off, or None: then the
    result is stored (or a success stored before it kept)."""
    runs_key = key(task_id)
    if result is None:  # a failure's finish alone (Celery stores the failure): no result's key touched
        result_key, value, keep_s = runs_key, "", 0
    else:
        result_key, value, keep_s = result.key, result.value, result.expires_s or 0
    reply = client.eval(FINISH, 2, runs_key, result_key,
                        entry("finished", run.worker, run.pid, run.attempt, run.started_at, finished_at),
                        run.worker, iso(run.started_at), expires_s, value, keep_s)
    verdict, *why = (part.decode() if isinstance(part, bytes) else part for part in reply)
    return why[0] if verdict == "fenced" else None


#: Append ARGV[i + 2] to the run list KEYS[i] in database ARGV[1] (the results', from a client of
#: the jobs' database), each kept ARGV[2] s. Returns how many.
APPEND_IN = """
redis.call('SELECT', ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('RPUSH', key, ARGV[i + 2])
  redis.call('EXPIRE', key, ARGV[2])
end
return #KEYS
"""


def record_interruption(client: Any, task_ids: Iterable[str], worker: str, run: datetime | None, why: str,
                        at: datetime, expires_s: int) -> None:
    """End, unfinished, the runs `worker` had started of these jobs (only the one started at `run`, if
    given) before this entry (one round trip)."""
    pipe = client.pipeline(transaction=False)
    for task_id in task_ids:
        pipe.rpush(key(task_id), interruption(worker, run, why, at))
        pipe.expire(key(task_id), expires_s)
    pipe.execute()


def read_runs(client: Any, task_ids: list[str]) -> dict[str, list[Run]]:
    """The runs of each task id, in one pipelined round trip."""
    pipe = client.pipeline(transaction=False)
    for task_id in task_ids:
        pipe.lrange(key(task_id), 0, -1)
    return {task_id: parse(entries) for task_id, entries in zip(task_ids, pipe.execute(), strict=True)}
