"""Every figure that says whether a batch ran in parallel, defined once (docs/producer.md: the summary).

Pure functions of a batch's story (producer.story: the outcomes with every record on the
producer's clock): `run`, `compare`, `sweep`, the quiz and the benchmarks all use them, so a
speedup means the same everywhere, and the summary reads the same outcomes the pictures draw.

- work: the sum of what the jobs were asked to take, the course page's one-after-another time;
- wall: the producer's clock, first submit to last result;
- slots: distinct (host, process, thread or greenlet) that ran jobs, finished or not (a worker
  that died before it finished any counts the slots it ran them on); for cpu jobs the
  parallelism is capped by the CPUs the workers share and by the processes (one GIL each);
- ideal wall: ceil(jobs / slots) x duration, and for cpu jobs at least work / usable CPUs;
- speedup = work / wall; efficiency = ideal wall / wall; stretch = run time / asked duration;
- jobs that share the one cup (a lock, the quiz): the time they waited for it, and the most
  that drank at once; Amdahl's law for when only part of each job needs it;
- what kept the batch from its pace, as measured: jobs queued ahead, slots held by something
  outside the run while its jobs waited, workers lost, runs cancelled when a worker lost Redis,
  failures, retries and their backoff, jobs still running when the producer stopped waiting.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from producer.jobs import CANCELLED, RETRIED, WORKER_LOST, Outcome, Status
from producer.story import SlotRun, Story, slot_runs, tell
from worker.records import JobRecord
from worker.runs import FENCED

#: Clock differences below this are noise (timestamps, network): not reported.
CLOCK_NOTICE_S = 0.005


def peak_overlap(intervals: Iterable[tuple[datetime, datetime]]) -> int:
    """Most jobs running at the same instant; 1 means strictly one after another.

    A job that starts exactly when another finishes does not overlap it.
    """
    spans = list(intervals)
    events = sorted([(s, 1) for s, _ in spans] + [(f, -1) for _, f in spans], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def amdahl(parallel_share: float, workers: int) -> float:
    """Amdahl's law: the best speedup on `workers` when only `parallel_share` of the work can run side by side.

    1 / ((1 - p) + p / N): the rest (here, drinking from the one cup) takes turns, whatever N.
    """
    if not 0 <= parallel_share <= 1 or workers < 1:
        raise ValueError(f"need 0 <= parallel share <= 1 and workers >= 1, got {parallel_share!r}, {workers!r}")
    return 1 / ((1 - parallel_share) + parallel_share / workers)


def working(record: JobRecord) -> list[tuple[datetime, datetime]]:
    """When a job was making progress: from start to finish, less its wait for the cup (waiting is not running)."""
    if (wait := record.cup_wait) is None:
        return [(record.started_at, record.finished_at)]
    return [(a, b) for a, b in ((record.started_at, wait[0]), (wait[1], record.finished_at)) if b > a]


def usable_cpus(outcomes: Iterable[Outcome]) -> float | None:
    """CPUs the processes that ran jobs could use together, machine by machine.

    Containers of one machine share its cores, so a machine counts once, with the most
    CPUs any of its processes may use (a container without a CPU quota sees all cores).
    """
    per_machine: dict[str, float] = {}
    for o in outcomes:
        if o.record is not None:
            per_machine[o.record.machine] = max(per_machine.get(o.record.machine, 0.0), o.record.cpus)
    return sum(per_machine.values()) if per_machine else None


@dataclass(frozen=True)
class Summary:
    """The figures of one batch (docs/producer.md: "What the summary means")."""

    jobs: int
    succeeded: int
    failed: int
    withdrawn: int
    kind: str
    duration_s: float
    wall_s: float
    work_s: float
    slots_used: int
    processes_used: int
    workers_used: int
    pools: tuple[str, ...]
    slots_online: int
    cpus: float | None
    parallel_limit: int
    ideal_wall_s: float | None
    speedup: float | None
    efficiency: float | None
    peak_overlap: int
    stretch_median: float | None
    stretch_max: float | None
    cpu_s: float
    redelivered: int
    retried: int
    queued_ahead: int
    clock_offsets_s: dict[str, float] = field(default_factory=dict)
    waited_for_cup_s: float = 0.0  # jobs sharing the one cup: their waits for it, summed
    peak_drinking: int = 0  # most jobs holding the cup at the same instant (1: they took turns)
    verdict: str = ""
    notes: tuple[str, ...] = ()
    duplicates: int = 0  # jobs that ran more than once at the same attempt (worker.runs)
    runs: int = 0  # runs started, as the jobs' run lists tell (worker.runs): jobs ran + every extra run
    resubmitted: int = 0  # jobs lost on their way to a worker and sent again (producer.inflight)
    run_list_gaps: int = 0  # jobs whose run list could not be written while they ran
    fenced_running: int = 0  # copies fenced off and not ended when the batch did: they may still run
    unfinished: int = 0  # jobs without a result when the producer stopped waiting (running, or held by a worker)
    cancelled: int = 0  # jobs that ran again after their worker lost Redis and cancelled them (not a death)
    retry_wait_s: float = 0.0  # longest wait between a failed attempt's end and the retry's start (its backoff)
    queued_while_idle_s: float = 0.0  # longest a job waited in the queue while the worker that ran it ran none of these

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["pools"], data["notes"] = list(self.pools), list(self.notes)
        return data


def used(runs: Sequence[SlotRun]) -> tuple[int, int]:
    """(slots, processes) that ran these runs, finished or not: per worker, the ones its records name, or,
    for a worker that finished no job (killed first, or still running), the most of its runs at once.

    A run without a record cannot always name its slot (the events name the worker's main
    process; a pool process killed under its job is replaced by another pid), so it adds a slot
    only where no record does.
    """
    recorded: dict[str, set[tuple[str, int, str]]] = {}
    others: dict[str, list[SlotRun]] = {}
    for run in runs:
        if run.attempt is None:
            recorded.setdefault(run.outcome.record.worker, set()).add(run.key)  # type: ignore[union-attr]
        else:
            others.setdefault(run.attempt.worker, []).append(run)
    slots = len(set().union(*recorded.values()))
    processes = len({(host, pid) for keys in recorded.values() for host, pid, _ in keys})
    for worker, unrecorded in others.items():
        if worker in recorded:
            continue
        at_once = max(1, peak_overlap((r.started_at, r.ended_at) for r in unrecorded))
        slots += at_once
        processes += min(at_once, len({r.key[:2] for r in unrecorded}))
    return slots, processes


def queued_while_idle(runs: Sequence[SlotRun]) -> float:
    """The longest a job waited in the queue for its first run while the worker that then ran it was running
    none of these jobs (seconds): from its submit, or that worker's last run of them before, to its start.

    A worker, not a slot: threads and greenlets are new slots for every job, and a worker with
    a free slot may still be busy with these jobs in the others. Dispatch takes milliseconds.
    """
    longest = 0.0
    by_worker: dict[str, list[SlotRun]] = defaultdict(list)
    for run in runs:
        by_worker[run.worker].append(run)
    for same in by_worker.values():
        busy_until = None  # the latest end among the runs that started before this one
        for run in sorted(same, key=lambda r: r.started_at):
            if run.first:
                since = max(run.outcome.submitted_at, busy_until) if busy_until else run.outcome.submitted_at
                longest = max(longest, (run.started_at - since).total_seconds())
            busy_until = max(busy_until, run.ended_at) if busy_until else run.ended_at
    return longest


def ran_again(outcomes: Iterable[Outcome]) -> tuple[int, int]:
    """(lost their worker, cancelled) among the jobs that ran to their end: how they came to run again.

    A run before that never ended, or was fenced off, lost its worker; one its worker cancelled on
    losing Redis did not. Without a run list (worker.runs), the record's redelivered flag tells.
    """
    lost = cancelled = 0
    for o in outcomes:
        if o.record is None:
            continue
        ends = {a.end for a in o.attempts}
        if ends & set(WORKER_LOST):
            lost += 1
        elif CANCELLED in ends:
            cancelled += 1
        elif o.record.redelivered:
            lost += 1
    return lost, cancelled


def retry_waits(outcomes: Iterable[Outcome]) -> list[float]:
    """Seconds each retried job waited between a failed attempt's end and the next run's start: its backoff."""
    waits = []
    for o in outcomes:
        starts = sorted([a.started_at for a in o.attempts] + ([o.record.started_at] if o.record else []))
        for a in o.attempts:
            after = [t for t in starts if t > a.started_at]
            if a.end == RETRIED and after:
                waits.append(max(0.0, (after[0] - a.ended_at).total_seconds()))
    return waits


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def summarize(story: Story | Sequence[Outcome], *, wall_s: float, slots_online: int = 0,
              queued_ahead: int = 0) -> Summary:
    """The summary of a batch from its story (producer.story: the outcomes on one clock) and wall time.

    Outcomes as collected are told first (`tell`), so the figures always read the aligned
    outcomes the pictures draw. `slots_online` is what the cluster offered (0 when unknown:
    the slots used count); `queued_ahead` jobs of somebody else were waiting in the queue before this batch.
    """
    if not isinstance(story, Story):
        story = tell(story)
    outcomes, offsets = list(story.outcomes), story.offsets
    ran = [o.record for o in outcomes if o.record is not None]
    done = [o.record for o in outcomes if o.status == Status.SUCCESS and o.record is not None]
    runs = slot_runs(outcomes)
    jobs = len(outcomes)
    kind = outcomes[0].job.kind if outcomes else "sleep"
    duration_s = max((o.job.duration_s for o in outcomes), default=0.0)
    work_s = sum(r.duration_s for r in done)
    slots_used, processes_used = used(runs)
    slots = slots_online or slots_used
    cpus = usable_cpus(outcomes)
    pools = tuple(sorted({r.pool for r in ran}))
    limit = slots
    if kind == "cpu":  # pure-Python CPU work: one core per process at most (the GIL), no more than the cores
        if {"threads", "gevent"} & set(pools):
            limit = min(limit, processes_used)
        if cpus:
            limit = min(limit, math.floor(cpus))
        limit = max(1, limit)
    ideal = None
    if limit and jobs:
        ideal = math.ceil(jobs / limit) * duration_s
        if kind == "cpu" and cpus:
            ideal = max(ideal, jobs * duration_s / cpus)
    stretches = sorted(s for r in done if (s := r.stretch) is not None)
    speedup = work_s / wall_s if wall_s > 0 and done else None
    efficiency = ideal / wall_s if ideal is not None and wall_s > 0 and done else None
    spans = [span for r in ran for span in working(r)] + [(a.started_at, a.ended_at) for o in outcomes
                                                            for a in o.attempts]
    # an attempt nobody saw end runs until the next was known to start: never more at once than slots ran them
    peak = min(peak_overlap(spans), slots_used)
    drinking = [(r.finished_at - timedelta(seconds=r.cup_s), r.finished_at) for r in ran if r.cup_s]
    shown_offsets = {h: round(s, 6) for h, s in sorted(offsets.items()) if abs(s) >= CLOCK_NOTICE_S}
    lost, cancelled = ran_again(outcomes)
    summary = Summary(
        jobs=jobs,
        succeeded=len(done),
        failed=sum(1 for o in outcomes if o.status == Status.FAILURE),
        withdrawn=sum(1 for o in outcomes if o.status == Status.WITHDRAWN),
        kind=kind,
        duration_s=duration_s,
        wall_s=round(wall_s, 6),
        work_s=round(work_s, 6),
        slots_used=slots_used,
        processes_used=processes_used,
        workers_used=len({r.worker for r in ran} | {a.worker for o in outcomes for a in o.attempts}),
        pools=pools,
        slots_online=slots_online,
        cpus=cpus,
        parallel_limit=limit,
        ideal_wall_s=_round(ideal, 6),
        speedup=_round(speedup),
        efficiency=_round(efficiency),
        peak_overlap=peak,
        stretch_median=_round(statistics.median(stretches)) if stretches else None,
        stretch_max=_round(stretches[-1]) if stretches else None,
        cpu_s=round(sum(r.cpu_s for r in ran), 6),
        redelivered=lost,
        retried=sum(1 for r in ran if r.attempt > 1),
        queued_ahead=queued_ahead,
        clock_offsets_s=shown_offsets,
        waited_for_cup_s=round(sum(r.waited_for_cup_s for r in ran), 6),
        peak_drinking=peak_overlap(drinking),
        duplicates=sum(1 for o in outcomes if o.ran_twice),
        runs=sum(len(o.runs) for o in outcomes),
        resubmitted=sum(1 for o in outcomes if o.resubmitted),
        run_list_gaps=sum(1 for r in ran if r.run_list_gap),
        fenced_running=sum(1 for o in outcomes for r in o.runs if r.finished_at is None and r.interrupted
                           and r.interrupted.startswith(FENCED)),
        unfinished=sum(1 for o in outcomes if o.status == Status.PENDING),
        cancelled=cancelled,
        retry_wait_s=round(max(retry_waits(outcomes), default=0.0), 6),
        queued_while_idle_s=round(queued_while_idle(runs), 6),
    )
    return replace(summary, verdict=verdict(summary), notes=tuple(notes(summary)))


#: Speedups within this much of 1 are "about as fast as one after another": 0.98x is not "1.0x slower".
SAME_PACE = 0.05
#: Jobs that ran side by side "paid off" from this speedup on (the quiz's "parallel", compare's rows).
PAID_OFF = 1.5
#: Below this share of what the slots promise (min(slots, jobs)x) the verdict says why.
SHORTFALL = 0.8

IN_PARALLEL, CONCURRENTLY, ONE_AFTER_ANOTHER = "in parallel", "concurrently", "one after another"
NOTHING_FINISHED, NO_WORK, ALONE = "nothing finished", "no work", "alone"


def times(speedup: float | None) -> str:
    """`3.96x faster than one after another`, `11.2x slower ...`, `about as fast as ... (0.98x)`."""
    if speedup is None:
        return "no job finished"
    if abs(speedup - 1) < SAME_PACE:
        return f"about as fast as one after another ({speedup:.2f}x)"
    if speedup > 1:
        return f"{speedup:.2f}x faster than one after another"
    if speedup <= 0:
        return "slower than one after another"
    slower = 1 / speedup
    return f"{slower:.2f}x slower than one after another" if slower < 10 else \
        f"{slower:.1f}x slower than one after another"


@dataclass(frozen=True)
class Verdict:
    """What a batch shows, in the course page's words: how the jobs ran, how fast, and why not faster.

    `how` is IN_PARALLEL, CONCURRENTLY, ONE_AFTER_ANOTHER, or (nothing to judge) NOTHING_FINISHED,
    NO_WORK, ALONE; `paid_off` says whether running them side by side paid off (the quiz's
    "parallel"); `sentence` is what the summary, the plot and the notebook show; `short` is
    compare's column.
    """

    how: str
    sentence: str
    reason: str = ""
    paid_off: bool = False

    @property
    def short(self) -> str:
        word = {IN_PARALLEL: "parallel", CONCURRENTLY: "concurrent"}.get(self.how, self.how)
        if self.how in (NOTHING_FINISHED, NO_WORK, ALONE):
            return self.sentence
        if self.reason:
            return f"{word}, but {self.reason}" if self.how != ONE_AFTER_ANOTHER else f"{word}: {self.reason}"
        return f"{word}: the waits overlap" if self.how == CONCURRENTLY else word


def busy_cpus(s: Summary) -> bool:
    """Jobs ran clearly longer than asked: 20 % and 20 ms past what sharing CPUs explains.

    A 1 ms sleep always overshoots by a fraction of a millisecond, which is not a busy machine.
    """
    expected = expected_stretch(s)
    return (s.stretch_median is not None and s.stretch_median > 1.2 * expected
            and (s.stretch_median - expected) * s.duration_s > 0.02)


def _jobs(n: int) -> str:
    return f"{n} job" if n == 1 else f"{n} jobs"


def _their(n: int, thing: str) -> str:
    """`its worker` for one job, `their workers` for several."""
    return f"its {thing}" if n == 1 else f"their {thing}s"


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.1f} ms"


#: A job waits a few milliseconds in the queue for a free slot to take it (the hand-off); a worker
#: that leaves one of the run's jobs waiting longer than this, while running none of them, was
#: kept by something outside the run.
IDLE_NOTICE_S = 0.25


def held_outside(s: Summary) -> bool:
    """Jobs waited in the queue while the workers that then ran them ran none of this batch's jobs, beyond
    the hand-off's milliseconds and not behind jobs known to be queued ahead."""
    return not s.queued_ahead and s.queued_while_idle_s >= IDLE_NOTICE_S


def interference(s: Summary) -> list[str]:
    """What held this batch back from outside its slots' pace, as measured, most telling first."""
    causes = []
    if s.queued_ahead:
        causes.append(f"{_jobs(s.queued_ahead)} queued ahead of these ran first")
    if held_outside(s):
        causes.append(f"its jobs waited up to {_seconds(s.queued_while_idle_s)} in the queue while the workers that "
                      "ran them ran none of its jobs (kept by something outside this run)")
    if s.redelivered:
        causes.append(f"{_jobs(s.redelivered)} lost {_their(s.redelivered, 'worker')} and ran again")
    if s.cancelled:
        causes.append(f"{_jobs(s.cancelled)} ran again after {_their(s.cancelled, 'worker')} lost Redis and "
                      f"cancelled {'it' if s.cancelled == 1 else 'them'}")
    if s.unfinished:
        causes.append(f"{s.unfinished} of {s.jobs} jobs had not finished when the producer stopped waiting")
    if s.failed:
        causes.append(f"{s.failed} of {s.jobs} jobs failed (their time is in the wall, not in the work)")
    if s.retried:
        backoff = f" and up to {_seconds(s.retry_wait_s)} of backoff" if s.retry_wait_s else ""
        causes.append(f"{_jobs(s.retried)} retried: the failed attempts{backoff} are in the wall, not in the work")
    return causes


def why_not_faster(s: Summary, below_one: bool = False) -> str:
    """Why a batch ran slower than its slots promise: what held it back from outside, all of it as measured,
    else the first cause, most telling first, of the cluster's own pace.

    `below_one`: slower than one after another, which CPUs shared or rounds of jobs never explain.
    """
    one_process = s.processes_used <= 1 and s.slots_used > 1
    if causes := interference(s):
        return "; ".join(causes)
    if s.kind == "cpu" and one_process and s.pools == ("gevent",) and s.peak_overlap <= 1:
        return "greenlets switch only while they wait, and cpu jobs never wait"
    if s.kind == "cpu" and one_process:
        return "greenlets take turns on one thread" if s.pools == ("gevent",) else \
            "one thread runs Python at a time (the GIL)"
    if busy_cpus(s):
        expected = expected_stretch(s)
        if expected > 1:  # both measured: the jobs' own sharing, and more than it explains
            return (f"{min(s.jobs, s.slots_used)} cpu jobs share {s.cpus:g} CPUs ({expected:.1f}x as long each), "
                    f"and their CPUs were busy with other work too (jobs ran {s.stretch_median:.1f}x as long as asked)")
        return f"their CPUs were busy with other work (jobs ran {s.stretch_median:.1f}x as long as asked)"
    if not below_one and s.kind == "cpu" and s.cpus is not None and s.cpus < min(s.slots_used, s.succeeded):
        return f"{s.succeeded} cpu jobs share {s.cpus:g} CPUs"
    if not below_one and s.ideal_wall_s and s.parallel_limit and s.succeeded > s.parallel_limit \
            and s.succeeded % s.parallel_limit and s.work_s / s.ideal_wall_s < SHORTFALL * s.slots_used:
        rounds = math.ceil(s.succeeded / s.parallel_limit)
        return f"{s.succeeded} jobs on {s.parallel_limit} slots take {rounds} rounds"
    overhead = s.wall_s - (s.ideal_wall_s or 0.0)
    if overhead > s.duration_s:
        return "each job is shorter than its overhead (submit, queue, result)"
    return f"the overhead (submit, queue, result) took {_seconds(max(overhead, 0.0))} of the {_seconds(s.wall_s)} wall"


def judge(s: Summary) -> Verdict:
    """The one verdict: how the jobs ran, how fast, and, when the pace is not what that promises, why.

    Side by side (parallel, or concurrently in one process) promises close to min(slots, jobs)x;
    one after another promises 1x. Every sentence says its figures' truth for any batch the
    CLI accepts: zero durations, failures, retries, withdrawn jobs, jobs queued ahead, one slot.
    """
    if s.succeeded == 0:
        lost = [f"{n} {what}" for n, what in ((s.failed, "failed"), (s.withdrawn, "withdrawn"),
                                              (s.unfinished, "unfinished when the producer stopped waiting")) if n]
        return Verdict(NOTHING_FINISHED, "no job finished" + (f" ({', '.join(lost)})" if lost else "")
                       + ": nothing to compare")
    if s.work_s <= 0:
        return Verdict(NO_WORK, f"jobs of 0 s have no work to share out: the {s.wall_s:.3f} s wall is all "
                                "overhead (submit, queue, result)")
    if s.speedup is None:
        return Verdict(NOTHING_FINISHED, "no wall time measured: nothing to compare")
    pace = times(s.speedup)
    slower = s.speedup <= 1 - SAME_PACE
    if s.jobs == 1:
        why = f": {why_not_faster(s, below_one=True)}" if slower else ""
        return Verdict(ALONE, f"one job, so nothing ran side by side: {pace}{why}")
    if s.waited_for_cup_s:  # the quiz's cup: waiting for it is the reason, whatever else
        if s.peak_overlap <= 1:
            return Verdict(ONE_AFTER_ANOTHER, f"took turns for one shared resource (the cup), one after another: "
                                              f"{pace}", reason="one cup")
        return Verdict(IN_PARALLEL, f"ran in parallel on {s.slots_used} slots, but took turns for the cup: {pace}",
                       reason="they took turns for the cup", paid_off=s.speedup >= PAID_OFF)
    if s.peak_overlap <= 1:
        where = " on 1 slot" if s.slots_used == 1 else ""
        if s.pools == ("gevent",) and s.processes_used == 1 and s.slots_used > 1:
            where = f" on {s.slots_used} greenlets in 1 process"
        # one after another is what one slot promises; several slots, or slower than that, need a reason
        if not slower and s.slots_used <= 1:
            return Verdict(ONE_AFTER_ANOTHER, f"ran one after another{where}: {pace}")
        why = why_not_faster(s, below_one=slower)
        how = f"took {1 / s.speedup:.2f}x the sum of their durations" if slower else pace
        return Verdict(ONE_AFTER_ANOTHER, f"ran one after another{where}: {how}, because {why}", reason=why)
    if s.processes_used <= 1:  # several at once, but in one process: threads or greenlets
        pool = s.pools[0] if len(s.pools) == 1 else "one process"
        what = "greenlets" if pool == "gevent" else "threads" if pool == "threads" else "slots"
        how, head = CONCURRENTLY, f"ran concurrently on {s.slots_used} {what} in 1 process"
    else:
        how, head = IN_PARALLEL, f"ran in parallel on {s.slots_used} slots"
    promised = min(s.slots_used, s.succeeded)
    paid_off = s.speedup >= PAID_OFF
    if s.speedup >= SHORTFALL * promised:
        return Verdict(how, f"{head}: {pace}", paid_off=paid_off)
    why = why_not_faster(s, below_one=s.speedup < 1 + SAME_PACE)
    if s.speedup >= 1 + SAME_PACE:
        return Verdict(how, f"{head}: {pace}, not {promised}x: {why}", reason=why, paid_off=paid_off)
    return Verdict(how, f"{head}, yet {pace}: {why}", reason=why, paid_off=paid_off)


def verdict(s: Summary) -> str:
    """One line in the course page's words: parallel, concurrent (taking turns), one after another."""
    return judge(s).sentence


def expected_stretch(s: Summary) -> float:
    """How much longer than asked a job should take here: cpu jobs share the CPUs they outnumber."""
    if s.kind != "cpu" or not s.cpus:
        return 1.0
    return max(1.0, min(s.jobs, s.slots_used) / s.cpus)


def notes(s: Summary) -> list[str]:
    """Why the figures are what they are, when something other than the cluster explains it (most telling first)."""
    out = []
    if s.queued_ahead:
        out.append(f"{s.queued_ahead} jobs from an earlier run were queued ahead of these: "
                   "the wall time includes theirs (python -m producer purge)")
    if held_outside(s):
        out.append(f"jobs waited up to {s.queued_while_idle_s:.2f} s in the queue while the workers that then ran them "
                   "ran none of this run's jobs: something outside this run kept them from these (its records "
                   "cannot say what: no older job was queued when it started)")
    if s.cancelled:
        out.append(f"{_jobs(s.cancelled)} ran again after {_their(s.cancelled, 'worker')} lost the connection to "
                   "Redis and cancelled what it ran (no worker died): the cancelled runs' time is in the wall, "
                   "not in the work")
    if s.unfinished:
        out.append(f"{_jobs(s.unfinished)} had no result when the producer stopped waiting after {s.wall_s:.2f} s "
                   f"(running, or held by a worker): {'it' if s.unfinished == 1 else 'they'} may still finish, "
                   "outside these figures")
    if s.kind == "cpu" and s.cpus is not None and s.slots_used > s.cpus:
        stretch = f" (stretch up to {s.stretch_max:.1f}x)" if s.stretch_max is not None else ""  # none succeeded
        out.append(f"{s.jobs} cpu jobs on {s.slots_used} slots sharing {s.cpus:g} CPUs: at best "
                   f"{min(s.parallel_limit, s.jobs)}x; each job waited for a core{stretch}")
    elif s.kind == "cpu" and s.processes_used == 1 and s.slots_used > 1:
        out.append("cpu jobs in one process take turns: the GIL lets one thread run Python at a time")
    busy = busy_cpus(s)
    if busy:
        out.append(f"jobs ran {s.stretch_median:.1f}x as long as asked (median): "
                   "their CPUs were busy with other work too")
    if s.retry_wait_s:
        out.append(f"retried jobs waited up to {s.retry_wait_s:.2f} s between a failed attempt and the next "
                   "(the retry's backoff): the wall includes it")
    if s.speedup is not None and s.speedup < 1:
        if s.failed or s.retried:
            out.append("failed and retried attempts took time that counts in the wall but not in the work")
        # not when jobs queued ahead, a busy machine, or slots and CPUs explain it
        elif not busy and not s.queued_ahead and s.work_s and s.ideal_wall_s is not None \
                and s.ideal_wall_s < s.work_s:
            out.append("each job is shorter than its overhead (submit, queue, result): "
                       "parallelism pays off when jobs are long compared with that")
    if s.clock_offsets_s:
        host, offset = max(s.clock_offsets_s.items(), key=lambda kv: abs(kv[1]))
        out.append(f"worker clocks differ from the producer's by up to {abs(offset):.3f} s ({host}): "
                   "their times were moved onto the producer's clock")
    if s.withdrawn:
        one = s.withdrawn == 1
        out.append(f"{_jobs(s.withdrawn)} {'was' if one else 'were'} withdrawn from the queue before "
                   f"{'it' if one else 'they'} started")
    if s.duplicates:
        out.append(f"{s.duplicates} jobs ran more than once (a worker thought dead came back, or a visibility "
                   "timeout shorter than the job): see each job's lines")
    if s.resubmitted:
        out.append(f"{s.resubmitted} jobs were lost on their way to a worker (taken off the queue by one that "
                   "died before it held them) and sent again under the same id")
    if s.fenced_running:
        out.append(f"{s.fenced_running} copies of jobs fenced off (their worker cut off or frozen) had not ended "
                   "when the batch did: they may still run; their end will be in the jobs' run lists, and their "
                   "outcome does not count (the job's is the copy handed on)")
    if s.run_list_gaps:
        out.append(f"{s.run_list_gaps} jobs could not write their run list while they ran (Redis out of reach): "
                   "their extra runs, if any, may be under-counted")
    return out
