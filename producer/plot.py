"""Pictures of a run with matplotlib (the optional `plot` extra): a Gantt chart per worker
slot, and the speedup curve of a scaling sweep."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from producer.errors import UsageError

_COLOURS = {"task1": "#1f9bb4", "task2": "#b4379b"}


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install -e '.[plot]'") from None
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def gantt(path: Path, results: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Save a Gantt chart: one row per worker slot, each job a bar, its queue wait hatched,
    with the ideal parallel wall time and the sequential time marked."""
    plt = pyplot()
    done = [r for r in results if r.get("status", "SUCCESS") == "SUCCESS" and "started_at" in r]
    origin = min(datetime.fromisoformat(r["submitted_at"]) for r in results)

    def sec(stamp: str) -> float:
        return (datetime.fromisoformat(stamp) - origin).total_seconds()

    slots = sorted({(r["worker"], r["pid"]) for r in done})
    row = {slot: i for i, slot in enumerate(slots)}
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * len(slots)), dpi=110)
    for r in done:
        y = row[(r["worker"], r["pid"])]
        start, end = sec(r["started_at"]), sec(r["finished_at"])
        waited = start - sec(r["submitted_at"])
        if waited > 0:  # in the queue: drawn thin, behind the bars it waited for
            ax.barh(y, waited, left=start - waited, height=0.12, color="#ccc", zorder=0)
        ax.barh(y, end - start, left=start, height=0.6, color=_COLOURS.get(r["task"], "#5a5"), edgecolor="white")
        if end - start > 0.04 * max(summary.get("wall_s") or 1, 1e-6):
            ax.text(start + (end - start) / 2, y, r["task"], ha="center", va="center", color="white", fontsize=8)
    marks = [(summary.get("ideal_wall_s"), "ideal parallel", "#2a2"), (summary.get("wall_s"), "measured wall", "#333"),
             (summary.get("sequential_s"), "one after another", "#c33")]
    for x, label, colour in marks:
        if x:
            ax.axvline(x, color=colour, linestyle="--", linewidth=1.2, label=f"{label}: {x:.2f} s")
    from matplotlib.patches import Patch

    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(color="#ccc", label="waiting in the queue"))
    ax.set_yticks(range(len(slots)), [f"{w} pid {p}" for w, p in slots], fontsize=8)
    ax.set_ylim(len(slots) - 0.4, -0.6)
    ax.set_xlim(left=0)
    ax.legend(handles=handles, loc="center right", fontsize=8, framealpha=0.9)
    ax.set_xlabel("seconds since the first submit")
    ax.set_title(summary.get("verdict", ""), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def speedup_curve(path: Path, rows: list[dict[str, Any]]) -> None:
    """Save speedup against the number of workers, with the ideal (linear) diagonal."""
    plt = pyplot()
    ks = [r["workers"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    ax.plot(ks, ks, linestyle="--", color="#888", label="ideal: k workers, k x faster")
    ax.plot(ks, [r["ideal_speedup"] for r in rows], linestyle=":", color="#2a2", label="ideal for this batch")
    ax.plot(ks, [r["speedup"] for r in rows], marker="o", color="#1f9bb4", label="measured")
    ax.set_xlabel("workers taking jobs")
    ax.set_ylabel("speedup over one after another")
    ax.set_xticks(ks)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
