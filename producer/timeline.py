"""The run drawn in the terminal: one row per worker slot, one bar per job, queue waits shown.

`layout` is pure (records in, cells out) so it is unit-tested; `render` turns it into rich
Text, coloured on a terminal and plain elsewhere (rich decides).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.text import Text

WAIT = "·"  # queued: submitted, not started yet
BAR = "━"  # running
MAX_ROWS = 64  # more slots than that are summed up in one line


@dataclass
class Bar:
    """One job in its row: columns [start, end), and the task's name."""

    task: str
    start: int
    end: int


@dataclass
class Row:
    """One worker slot (node name + pid) and the jobs it ran, in order."""

    worker: str
    pid: int
    bars: list[Bar] = field(default_factory=list)
    waits: list[tuple[int, int]] = field(default_factory=list)  # [from, to) columns of idle-while-queued

    @property
    def label(self) -> str:
        return f"{self.worker} pid {self.pid}"


@dataclass
class Timeline:
    """Everything `render` draws, in character columns."""

    rows: list[Row]
    columns: int
    span_s: float
    queued: list[int]  # jobs waiting in the queue, per column
    ticks: list[tuple[int, str]]  # (column, label) on the time axis
    label_width: int = 0
    hidden_rows: int = 0


def _seconds(stamp: str, origin: datetime) -> float:
    return (datetime.fromisoformat(stamp) - origin).total_seconds()


def _tick_step(span_s: float, columns: int) -> float:
    """The smallest round step (0.1, 0.2, 0.5, 1, 2, 5, ...) that leaves 8 columns per label."""
    fitting = max(1, columns // 8)
    steps = (m * 10.0**e for e in range(-3, 7) for m in (1, 2, 5))
    return next(step for step in steps if span_s / step <= fitting)


def layout(records: list[dict[str, Any]], width: int) -> Timeline:
    """Lay out successful result records (with `submitted_at`) in `width` characters.

    The time axis starts at the first submit. A job's wait shows as dots where its row was
    idle: time the job spent in the queue although this slot could have taken it.
    """
    if not records:
        return Timeline([], 0, 0.0, [], [])
    origin = min(datetime.fromisoformat(r["submitted_at"]) for r in records)
    span_s = max(_seconds(r["finished_at"], origin) for r in records) or 1e-6
    slots = sorted({(r["worker"], r["pid"]) for r in records})
    label_width = min(max(len(f"{w} pid {p}") for w, p in slots), max(12, width // 3))
    columns = max(10, width - label_width - 1)

    def col(seconds: float) -> int:
        return min(columns - 1, int(seconds / span_s * columns))

    rows = {slot: Row(*slot) for slot in slots}
    for r in sorted(records, key=lambda r: r["started_at"]):
        row = rows[(r["worker"], r["pid"])]
        start, end = col(_seconds(r["started_at"], origin)), col(_seconds(r["finished_at"], origin))
        end = max(end, start + 1)
        previous_end = row.bars[-1].end if row.bars else 0
        wait_from = max(col(_seconds(r["submitted_at"], origin)), previous_end)
        if wait_from < start:
            row.waits.append((wait_from, start))
        row.bars.append(Bar(r["task"], start, end))

    queued = [0] * columns
    for r in records:
        for c in range(col(_seconds(r["submitted_at"], origin)), col(_seconds(r["started_at"], origin))):
            queued[c] += 1

    step = _tick_step(span_s, columns)
    ticks, t = [], 0.0
    while t <= span_s + 1e-9:
        ticks.append((col(t), f"{t:g}s"))
        t = round(t + step, 6)
    ordered = [rows[s] for s in slots]
    return Timeline(ordered[:MAX_ROWS], columns, span_s, queued, ticks, label_width,
                    hidden_rows=max(0, len(ordered) - MAX_ROWS))


def _bar_text(bar: Bar) -> str:
    """The bar's cells: the task's name if it fits, else its number, then the bar itself."""
    cells = bar.end - bar.start
    name = bar.task if cells >= len(bar.task) + 1 else bar.task[-1] if bar.task[-1].isdigit() else bar.task[:1]
    return (name + BAR * cells)[:cells]


_STYLES = {"task1": "bold cyan", "task2": "bold magenta"}


def render(timeline: Timeline) -> list[Text]:
    """The timeline as lines of rich Text: a queue line, one line per slot, the time axis."""
    if not timeline.rows:
        return [Text("(no finished job to draw)")]
    label_width = timeline.label_width
    lines = []
    queue = "".join(" " if n == 0 else str(n) if n < 10 else "+" for n in timeline.queued)
    lines.append(Text(f"{'queued':>{label_width}} ", style="dim") + Text(queue, style="yellow"))
    for row in timeline.rows:
        label = row.label if len(row.label) <= label_width else "…" + row.label[-(label_width - 1):]
        line = Text(f"{label:>{label_width}} ", style="dim")
        cells = Text(" " * timeline.columns)
        for start, end in row.waits:
            cells = cells[:start] + Text(WAIT * (end - start), style="yellow") + cells[end:]
        for bar in row.bars:
            style = _STYLES.get(bar.task, "bold green")
            cells = cells[:bar.start] + Text(_bar_text(bar), style=style) + cells[bar.end:]
        lines.append(line + cells)
    if timeline.hidden_rows:
        lines.append(Text(f"{'':>{label_width}} (+{timeline.hidden_rows} more worker slots not drawn)", style="dim"))
    axis = [" "] * (timeline.columns + 8)
    for column, label in timeline.ticks:
        axis[column:column + len(label)] = label
    marks = "".join("┬" if any(c == column for c, _ in timeline.ticks) else "─" for column in range(timeline.columns))
    lines.append(Text(f"{'':>{label_width}} " + marks, style="dim"))
    lines.append(Text(f"{'':>{label_width}} " + "".join(axis).rstrip(), style="dim"))
    return lines
