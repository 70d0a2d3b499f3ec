"""What the producer prints: one course-page line per job, the summary, or one JSON document."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from producer.submit import Batch, Outcome
from producer.timeline import layout, render


def _clock(stamp: str, with_date: bool = True) -> str:
    moment = datetime.fromisoformat(stamp)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f" if with_date else "%H:%M:%S.%f")


def job_line(outcome: Outcome) -> str:
    """`task1 finished at <UTC time> on <worker> (pid N), started <time>, ran 1.00 s`, or why not."""
    r = outcome.record
    if outcome.status == "SUCCESS" and r is not None:
        line = (
            f"{r['task']} finished at {_clock(r['finished_at'])} on {r['worker']} (pid {r['pid']}), "
            f"started {_clock(r['started_at'], with_date=False)}, ran {r['runtime_s']:.2f} s"
        )
        if r.get("attempt", 1) > 1 or r.get("redelivered"):
            waited = (datetime.fromisoformat(r["started_at"]) - outcome.submitted_at).total_seconds()
            how = "redelivered" if r.get("redelivered") else "retried"
            line += f", attempt {r['attempt']}, {how}: started {waited:.1f} s after it was submitted"
        return line
    if outcome.status == "FAILURE":
        return f"{outcome.job.task} FAILED: {outcome.error} (task {outcome.task_id})"
    return f"{outcome.job.task} did not finish: {outcome.error or 'no result'} (task {outcome.task_id})"


def job_lines(batch: Batch) -> list[str]:
    """Finished jobs in the order they finished, as the course page prints them; then the rest."""
    done = sorted((o for o in batch.outcomes if o.record), key=lambda o: o.record["finished_at"])  # type: ignore[index]
    return [job_line(o) for o in done + batch.failed]


_MEANINGS = {
    "jobs": "jobs submitted",
    "workers_used": "distinct workers that ran a job",
    "slots_online": "jobs the cluster can run at once (worker processes online)",
    "peak_overlap": "most jobs running at the same instant",
    "redelivered": "jobs handed to another worker after theirs died",
    "retried": "jobs that succeeded after a failed attempt",
    "wall_s": "producer's clock, first submit to last result",
    "sequential_s": "sum of the run times: the course page's loop",
    "ideal_wall_s": "ceil(jobs / slots) x duration",
    "speedup": "sequential / wall",
    "efficiency": "ideal wall / wall (1.0 = no overhead)",
}


def summary_table(summary: dict[str, Any]) -> Table:
    """The summary as a two-column table with what each figure means."""
    table = Table(title="summary", show_header=False, box=None, pad_edge=False)
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    table.add_column("meaning", style="dim")
    for key, meaning in _MEANINGS.items():
        value = summary[key]
        shown = "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
        if key == "jobs" and summary["failed"]:
            shown += f" ({summary['failed']} failed)"
        table.add_row(key, shown, meaning)
    return table


def print_text(console: Console, batch: Batch, summary: dict[str, Any], timeline: bool = True) -> None:
    """The human report: job lines, the timeline, summary table, verdict."""
    for line in job_lines(batch):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print()
    results = [o.as_json() for o in batch.outcomes if o.record is not None]
    if timeline and results:
        console.print("timeline: one row per worker process, · = a job waited while this one was idle",
                      style="bold", highlight=False)
        for line in render(layout(results, console.width)):
            console.print(line, soft_wrap=True, no_wrap=True, crop=False)
        console.print()
    console.print(summary_table(summary))
    console.print(f"\n{summary['verdict']}", markup=False, highlight=False, soft_wrap=True)


def json_document(batch: Batch, summary: dict[str, Any]) -> str:
    """`{"results": [...], "summary": {...}}`, results in submission order."""
    return json.dumps({"results": [o.as_json() for o in batch.outcomes], "summary": summary}, indent=2)
