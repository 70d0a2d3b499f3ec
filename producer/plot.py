"""Pictures of a run with matplotlib (the optional `plot` extra): a Gantt chart per worker
slot, and the speedup curve of a scaling sweep."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from producer.errors import UsageError
from producer.figures import Summary, align
from producer.jobs import Outcome
from producer.timeline import slot_labels

_COLOURS = {"task1": "#1f9bb4", "task2": "#b4379b"}


def pyplot() -> Any:
    """matplotlib.pyplot for files (no display), or UsageError saying how to install it.

    In a Jupyter kernel the backend is left alone, so figures show inline.
    """
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plots need matplotlib: pip install -e '.[plot]'") from None
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


def gantt_figure(outcomes: list[Outcome], summary: Summary) -> Any:
    """A Gantt chart: one row per worker slot, each job a bar, its queue wait thin and grey,
    with the ideal parallel wall, the measured wall and the one-after-another time marked."""
    plt = pyplot()
    outcomes, _ = align(outcomes)
    ran = [o for o in outcomes if o.record is not None]
    origin = min(o.submitted_at for o in outcomes)

    def sec(moment: Any) -> float:
        return (moment - origin).total_seconds()

    labels = slot_labels(ran)
    row = {key: i for i, key in enumerate(sorted(labels))}
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * len(row)), dpi=110)
    for o in ran:
        r = o.record
        y = row[r.slot_key]
        start, end = sec(r.started_at), sec(r.finished_at)
        waited = start - sec(o.submitted_at)
        if waited > 0:  # in the queue: drawn thin, behind the bars it waited for
            ax.barh(y, waited, left=start - waited, height=0.12, color="#ccc", zorder=0)
        if (cup_wait := r.cup_wait) is not None:  # running, but waiting for the one cup
            ax.barh(y, r.waited_for_cup_s, left=sec(cup_wait[0]), height=0.6, color="#eee", edgecolor="#bbb",
                    hatch="...", zorder=2)
        failed = o.status != "SUCCESS"
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
    handles.append(Patch(color="#ccc", label="waiting in the queue"))
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


def gantt(path: Path, outcomes: list[Outcome], summary: Summary) -> None:
    """Save gantt_figure() to `path`."""
    fig = gantt_figure(outcomes, summary)
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
