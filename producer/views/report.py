"""What the producer prints: one course-page line per job, the timeline, the summary, or JSON.

Plain lines that fit the terminal (80 columns included) and carry no trailing padding when
piped, so they read well and grep well.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from rich.console import Console
from rich.text import Text

from producer.figures import Summary, held_outside
from producer.jobs import RUNNING, Outcome, Status
from producer.story import Story
from producer.views.timeline import layout, legend, render


def job_line(outcome: Outcome) -> str:
    """`task1 finished at 13:24:09.184903 on worker@h pid 8, ran 1.00 s` (the date is said once above)."""
    r = outcome.record
    if outcome.status == Status.SUCCESS and r is not None:
        line = f"{r.task} finished at {r.finished_at:%H:%M:%S.%f} on {r.worker} pid {r.pid}, ran {r.runtime_s:.2f} s"
        if r.attempt > 1 or r.redelivered:
            waited = (r.started_at - outcome.submitted_at).total_seconds()
            how = "redelivered" if r.redelivered else "retried"
            line += f"\n  attempt {r.attempt}, {how}: started {waited:.1f} s after it was submitted"
        return line + ran_twice_line(outcome)
    if outcome.status == Status.FAILURE:
        where = f" on {r.worker} pid {r.pid}" if r is not None else ""
        return f"{outcome.job.task} FAILED{where}: {outcome.error} (task {outcome.task_id})" + ran_twice_line(outcome)
    if outcome.status == Status.WITHDRAWN:
        return f"{outcome.job.task} withdrawn: it had not started (task {outcome.task_id})"
    why = outcome.error or "no result"
    said = why if why.startswith("did not finish") else f"did not finish: {why}"
    running = [a for a in outcome.attempts if a.end == RUNNING]
    where = f": still running on {running[-1].worker} pid {running[-1].pid}" if running else ""
    return f"{outcome.job.task} {said}{where} (task {outcome.task_id})"


def ran_twice_line(outcome: Outcome) -> str:
    """`\n  ran 2 times: worker@a pid 8 at 12:00:01.2, worker@b pid 9 at 12:00:05.3`, or nothing."""
    if not outcome.ran_twice:
        return ""
    return f"\n  ran {len(outcome.ran_twice)} times: {', '.join(r.describe() for r in outcome.ran_twice)}"


def job_lines(outcomes: list[Outcome]) -> list[str]:
    """A date line, then finished jobs in the order they finished, as the course page prints them; then the rest."""
    done = sorted((o for o in outcomes if o.status == Status.SUCCESS and o.record),
                  key=lambda o: o.record.finished_at)  # type: ignore[union-attr]
    finished = {id(o) for o in done}  # by identity: `in` on a list compares every field, O(n^2)
    rest = [o for o in outcomes if id(o) not in finished]
    dates = sorted({f"{o.record.finished_at:%Y-%m-%d}" for o in done})  # type: ignore[union-attr]
    span = dates[0] + (f" to {dates[-1]}" if len(dates) > 1 else "") if dates else ""
    head = [f"jobs finished on {span} (UTC):"] if dates else []
    return head + [job_line(o) for o in done + rest]


#: The summary's figures in the order they are printed, with what each means (docs/producer.md: the summary).
MEANINGS = {
    "jobs": "jobs submitted",
    "slots_used": "worker slots that ran a job (process, thread, greenlet)",
    "slots_online": "jobs the cluster could run at once",
    "cpus": "CPUs those workers share",
    "peak_overlap": "most jobs running at the same instant",
    "work_s": "sum of the jobs' durations: one after another",
    "wall_s": "producer's clock, first submit to last result",
    "ideal_wall_s": "best possible wall on these slots and CPUs",
    "speedup": "work / wall",
    "efficiency": "ideal wall / wall (1.0 = no overhead)",
    "stretch_max": "longest run / asked duration (>1: it waited for CPU)",
    "redelivered": "jobs handed to another worker after theirs died",
    "cancelled": "jobs run again after their worker lost Redis (shown when any)",
    "retried": "jobs that succeeded after a failed attempt",
    "retry_wait_s": "longest wait for a retry: its backoff (shown when any)",
    "queued_while_idle_s": "longest wait while its worker ran none of these (shown when long)",
    "duplicates": "jobs that ran more than once (shown when any did)",
    "runs": "runs started, as the run lists tell (shown when not one per job)",
    "resubmitted": "jobs lost on their way to a worker, sent again (shown when any)",
}
#: Figures shown only when they say something: the run lists' count when it differs from the jobs
#: that ran, the wait with no job of the run where the verdict would name it, the others when not zero.
_WHEN = {
    "cancelled": lambda s: bool(s.cancelled),
    "retry_wait_s": lambda s: bool(s.retry_wait_s),
    "queued_while_idle_s": held_outside,
    "duplicates": lambda s: bool(s.duplicates),
    "runs": lambda s: bool(s.runs) and s.runs != s.succeeded + s.failed + s.unfinished,
    "resubmitted": lambda s: bool(s.resubmitted),
}
#: The wall's meaning when the producer stopped waiting before every job had its result.
WALL_CUT_SHORT = "producer's clock, first submit until it stopped waiting"


def _shown(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}" if value != int(value) or value < 100 else f"{value:g}"
    return str(value)


def summary_lines(summary: Summary) -> list[str]:
    """The summary as `figure  value  meaning` lines, no padding at the end."""
    data = summary.as_json()
    lines = []
    for key, meaning in MEANINGS.items():
        if key in _WHEN and not _WHEN[key](summary):
            continue
        shown = f"{data[key]:g}" if key == "cpus" and data[key] is not None else _shown(data[key])
        if key == "wall_s" and (summary.unfinished or summary.withdrawn):
            meaning = WALL_CUT_SHORT
        if key == "jobs":  # in the meaning's column: the values stay one column
            extra = [f"{n} {what}" for n, what in ((summary.failed, "failed"), (summary.withdrawn, "withdrawn"),
                                                   (summary.unfinished, "unfinished")) if n]
            meaning += f": {', '.join(extra)}" if extra else ""
        lines.append(f"{key:<13} {shown:>9}  {meaning}")
    return lines


def trouble_lines(outcomes: list[Outcome], timeout_s: float, named_above: bool) -> list[str]:
    """What stderr says of the jobs that did not succeed: each job once, when the report above did not name it
    (`--json`), else one line that counts them (the job lines above name each)."""
    failed = [o for o in outcomes if o.status == Status.FAILURE]
    unfinished = [o for o in outcomes if o.status == Status.PENDING]
    withdrawn = [o for o in outcomes if o.status == Status.WITHDRAWN]
    if named_above:
        counts = [f"{n} {what}" for n, what in ((len(failed), "failed"),
                                                (len(unfinished), f"did not finish within {timeout_s:g} s"))
                  if n]
        said = ", ".join(counts) + ("; " if counts and withdrawn else "")
        said += f"withdrew {len(withdrawn)} that had not started" if withdrawn else ""
        return [f"error: {said} (each job named above)"] if said else []
    lines = [f"error: {o.job.task} ({o.task_id}): {o.error}" for o in failed + unfinished]
    if withdrawn:
        lines.append(f"withdrew {len(withdrawn)} jobs that had not started within {timeout_s:g} s")
    return lines


def print_text(console: Console, story: Story, summary: Summary, timeline: bool = True) -> None:
    """The human report: job lines (the workers' own times), the timeline (the producer's clock), the summary,
    notes and the verdict."""
    for line in job_lines(list(story.recorded)):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print()
    if timeline and story.ran:
        drawn = layout(list(story.outcomes), console.width)
        for line in textwrap.wrap(legend(drawn), console.width):  # between words, and no padding at the end
            console.print(line, style="bold", highlight=False, soft_wrap=True)
        for line in render(drawn):
            console.print(line, soft_wrap=True, no_wrap=True, crop=False)
        console.print()
    console.print("summary", style="bold")
    for line in summary_lines(summary):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    for note in summary.notes:
        for line in textwrap.wrap(f"note: {note}", console.width, subsequent_indent="  "):
            console.print(Text(line, style="yellow"), soft_wrap=True)
    console.print(f"\n{summary.verdict}", markup=False, highlight=False, soft_wrap=True, style="bold")


def json_document(story: Story, summary: Summary) -> str:
    """`{"results": [...], "summary": {...}}`, results in submission order, as the workers recorded them."""
    return json.dumps({"results": [o.as_json() for o in story.recorded], "summary": summary.as_json()}, indent=2)
