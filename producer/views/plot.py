"""Pictures of a run with matplotlib (the optional `plot` extra): a Gantt chart per worker
slot, and the speedup curve of a scaling sweep."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from cluster.errors import UsageError
from producer.figures import Summary
from producer.jobs import DIED, END_WORDS, Status
from producer.story import Story, placed_attempts
from producer.views.timeline import slot_labels
from producer.where import Where

_COLOURS = {"task1": "#1f9bb4", "task2": "#b4379b"}
_QUEUED, _RESERVED, _LOST = "#ccc", "#e0a030", "#d33"


def pyplot() -> Any:
    """matplotlib.pyplot for files (no display), or UsageError saying how to install it.

    In a Jupyter kernel the backend is left alone, so figures show inline.
    """
    try:
        import matplotlib
    except ImportError:
        raise UsageError(f"plots need matplotlib: {Where.here().install_hint('plot', '--plot run.png')}") from None
    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def check_format(path: Path) -> None:
    """Raise UsageError now, before any job runs, if matplotlib cannot write that kind of file."""
    plt = pyplot()
    formats = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in formats:
        raise UsageError(f"--plot {path}: cannot save .{suffix or '(no suffix)'} files; "
                         f"use one of {', '.join('.' + f for f in sorted(formats))}")


def gantt_figure(story: Story, summary: Summary) -> Any:
    """A Gantt chart: one row per worker slot, each job a bar, its queue wait thin and grey,
    with the ideal parallel wall, the measured wall and the one-after-another time marked.

    When the events were followed (producer.story), the wait ends where a worker took the job
    (then thin amber: reserved, waiting for a free slot); every other run of a job (lost with
    its worker, cancelled, failed and retried, still running: placed_attempts) is a red hatched bar
    on the row of the slot that ran it, labelled with how it ended."""
    plt = pyplot()
    outcomes = list(story.outcomes)
    ran = [o for o in outcomes if o.record is not None]
    lost = placed_attempts(outcomes)
    origin = min(o.submitted_at for o in outcomes)

    def sec(moment: Any) -> float:
        return (moment - origin).total_seconds()

    labels = slot_labels(outcomes)
    row = {key: i for i, key in enumerate(sorted(labels))}
    lost_row = {id(run): row[key] for _, run, key in lost}
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * len(row)), dpi=110)
    # the legend names only what one can see: a wait thinner than a pixel or two is no bar
    visible = 0.004 * max(summary.wall_s or 1, 1e-6)
    waited = reserved_drawn = False
    for o in outcomes:  # waits: thin, behind the bars they waited for, on the row of the attempt that followed
        for since, until, attempt in o.queue_waits():
            if attempt is None and o.record is None:  # taken off the queue, never finished: no row to draw it on
                continue
            y = lost_row[id(attempt)] if attempt is not None else row[o.record.slot_key]  # type: ignore[union-attr]
            ax.barh(y, sec(until) - sec(since), left=sec(since), height=0.12, color=_QUEUED, zorder=0)
            waited = waited or sec(until) - sec(since) >= visible
        if (reserved := o.reserved) is not None and o.record is not None:
            reserved_drawn = reserved_drawn or sec(reserved[1]) - sec(reserved[0]) >= visible
            ax.barh(row[o.record.slot_key], sec(reserved[1]) - sec(reserved[0]),  # type: ignore[union-attr]
                    left=sec(reserved[0]), height=0.12, color=_RESERVED, zorder=0)
    for o, run, key in lost:
        start, end = sec(run.started_at), sec(run.ended_at)
        # last heard of when it started (a task event counts as a heartbeat): still a bar one can see
        shown = max(end - start, 0.004 * max(summary.wall_s or 1, 1e-6))
        ax.barh(row[key], shown, left=start, height=0.6, color="white", edgecolor=_LOST, hatch="//")
        if end - start > 0.04 * max(summary.wall_s or 1, 1e-6):
            ax.text(start + (end - start) / 2, row[key], f"{o.job.task} {END_WORDS[run.end]}", ha="center", va="center",
                    color=_LOST, fontsize=8)
    for o in ran:
        r = o.record
        y = row[r.slot_key]
        start, end = sec(r.started_at), sec(r.finished_at)
        if (cup_wait := r.cup_wait) is not None:  # running, but waiting for the one cup
            ax.barh(y, r.waited_for_cup_s, left=sec(cup_wait[0]), height=0.6, color="#eee", edgecolor="#bbb",
                    hatch="...", zorder=2)
        failed = o.status != Status.SUCCESS
        ax.barh(y, end - start, left=start, height=0.6, color="#d33" if failed else _COLOURS.get(r.task, "#5a5"),
                edgecolor="white", hatch="xx" if failed else None)
        if end - start > 0.04 * max(summary.wall_s or 1, 1e-6):
            ax.text(start + (end - start) / 2, y, r.task + (" failed" if failed else ""), ha="center", va="center",
                    color="white", fontsize=8)
    marks = [(summary.ideal_wall_s, "ideal parallel", "#2a2"), (summary.wall_s, "measured wall", "#333"),
             (summary.work_s, "one after another", "#c33")]
    for x, label, colour in marks:
        if x:
            ax.axvline(x, color=colour, linestyle="--", linewidth=1.2, label=f"{label}: {x:.2f} s")
    from matplotlib.patches import Patch

    handles, _ = ax.get_legend_handles_labels()
    if waited:
        handles.append(Patch(color=_QUEUED, label="waiting in the queue"))
    if reserved_drawn:
        handles.append(Patch(color=_RESERVED, label="reserved by a worker, waiting for a free slot"))
    if lost:
        said = "lost with its worker" if all(run.end == DIED for _, run, _ in lost) else \
            "a run that did not give the job its result"
        handles.append(Patch(facecolor="white", edgecolor=_LOST, hatch="//", label=said))
    if any(o.record.cup_wait for o in ran):
        handles.append(Patch(facecolor="#eee", edgecolor="#bbb", hatch="...", label="waiting for the cup"))
    ax.set_yticks(range(len(row)), [labels[key] for key in sorted(labels)], fontsize=8)
    ax.set_ylim(len(row) - 0.4, -0.6)
    ax.set_xlim(left=0)
    ax.legend(handles=handles, loc="center right", fontsize=8, framealpha=0.9)
    ax.set_xlabel("seconds since the first submit")
    ax.set_title(summary.verdict, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def gantt(path: Path, story: Story, summary: Summary) -> None:
    """Save gantt_figure() to `path`."""
    fig = gantt_figure(story, summary)
    fig.savefig(path)
    pyplot().close(fig)


def speedup_curve(path: Path, rows: list[dict[str, Any]]) -> None:
    """Save speedup against the number of workers, with the ideal (linear) diagonal."""
    fig = speedup_figure(rows)
    fig.savefig(path)
    pyplot().close(fig)


def speedup_figure(rows: list[dict[str, Any]], predicted: str = "ideal_speedup",
                   predicted_label: str = "ideal for this batch") -> Any:
    """Speedup against the number of workers: measured, the `predicted` column of `rows`, and k workers, k x faster."""
    plt = pyplot()
    ks = [r["workers"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    ax.plot(ks, ks, linestyle="--", color="#888", label="ideal: k workers, k x faster")
    ax.plot(ks, [r[predicted] for r in rows], linestyle=":", color="#2a2", label=predicted_label)
    ax.plot(ks, [r["speedup"] for r in rows], marker="o", color="#1f9bb4", label="measured")
    ax.set_xlabel("workers taking jobs")
    ax.set_ylabel("speedup over one after another")
    ax.set_xticks(ks)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
