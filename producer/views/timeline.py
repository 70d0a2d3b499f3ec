"""The run drawn in the terminal: one row per worker slot, one bar per job, queue waits shown.

`layout` is pure (outcomes in, cells out) so it is unit-tested; `render` turns it into rich
Text, coloured on a terminal and plain elsewhere (rich decides). Outcomes are expected on
the producer's clock (figures.align); anything outside the run is clamped to the axis.
When the events were followed (producer.story), attempts lost with their worker are drawn
as the live view draws them, and the queue line counts a job until a worker took it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from rich.text import Text

from producer.jobs import LostRun, Outcome

WAIT = "·"  # queued: submitted, not started yet
BAR = "━"  # running
FAILED = "✗"  # marks a job that failed
CUP_WAIT = "░"  # running, but waiting for the one cup (a lock another job holds)
LOST_STYLE = "red dim"  # an attempt lost with its worker: the live view's style too (producer.views.live)
MAX_ROWS = 64  # more slots than that are summed up in one line
LEGEND = ("timeline: one row per worker slot; ━ a job, ✗ failed, · waited while this slot was idle; "
          "queued: jobs waiting (+ = 10 or more)")
#: Added to LEGEND when a job waited for the cup.
CUP_LEGEND = "; ░ waited for the cup"
#: Added to LEGEND when an attempt was lost with its worker (seen by the events).
LOST_LEGEND = "; ━✗ lost with its worker"
#: The third part of the slot key of a row that only lost attempts have (see lost_runs).
LOST_SLOT = "lost"

SlotKey = tuple[str, int, str]


@dataclass
class Bar:
    """One job in its row: columns [start, end), the task's name, whether it failed or was lost with its worker,
    when it waited for the cup."""

    task: str
    start: int
    end: int
    failed: bool = False
    lost: bool = False
    cup_waits: list[tuple[int, int]] = field(default_factory=list)  # [from, to) columns inside [start, end)


@dataclass
class Row:
    """One worker slot (node, pid, and thread or greenlet) and the jobs it ran, in order."""

    label: str
    bars: list[Bar] = field(default_factory=list)
    waits: list[tuple[int, int]] = field(default_factory=list)  # [from, to) columns of idle-while-queued


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


def legend(timeline: Timeline) -> str:
    """LEGEND, with the cup's mark when a job of this timeline waited for it, the lost mark when one was lost."""
    bars = [bar for row in timeline.rows for bar in row.bars]
    return (LEGEND + (CUP_LEGEND if any(bar.cup_waits for bar in bars) else "")
            + (LOST_LEGEND if any(bar.lost for bar in bars) else ""))


def _tick_step(span_s: float, columns: int) -> float:
    """The smallest round step (0.1, 0.2, 0.5, 1, 2, 5, ...) that leaves 8 columns per label."""
    fitting = max(1, columns // 8)
    steps = (m * 10.0**e for e in range(-3, 7) for m in (1, 2, 5))
    return next(step for step in steps if span_s / step <= fitting)


def lost_runs(outcomes: list[Outcome]) -> list[tuple[Outcome, LostRun, SlotKey]]:
    """Every attempt the events saw lost, with the slot (row, track) it is drawn on.

    That is the one slot its worker's records name, else a slot of its own for that worker:
    an event's pid is the worker's main process, not the pool process a record names, so
    which of several slots it was is not known.
    """
    slots_of: dict[str, set[SlotKey]] = defaultdict(set)
    for o in outcomes:
        if o.record is not None:
            slots_of[o.record.worker].add(o.record.slot_key)
    placed = []
    for o in outcomes:
        for lost in o.seen.lost if o.seen is not None else ():
            slots = slots_of.get(lost.worker, set())
            key = next(iter(slots)) if len(slots) == 1 else (lost.hostname, lost.pid or 0, LOST_SLOT)
            placed.append((o, lost, key))
    return placed


def slot_labels(outcomes: list[Outcome]) -> dict[SlotKey, str]:
    """A short label per slot: `worker@host pid 8`, with `#2`... when a process has several.

    A slot only lost attempts were seen on is labelled with its worker's name (and the pid
    of its events when that worker had several).
    """
    keys = sorted({o.record.slot_key: o.record.worker for o in outcomes if o.record}.items())
    per_process: dict[tuple[str, int], int] = {}
    for (host, pid, _), _worker in keys:
        per_process[(host, pid)] = per_process.get((host, pid), 0) + 1
    labels, seen = {}, {}
    for (host, pid, slot), worker in keys:
        label = f"{worker} pid {pid}"
        if per_process[(host, pid)] > 1:
            seen[(host, pid)] = seen.get((host, pid), 0) + 1
            label += f" #{seen[(host, pid)]}"
        labels[(host, pid, slot)] = label
    lost_only = {key: lost.worker for _, lost, key in lost_runs(outcomes) if key not in labels}
    for key, worker in lost_only.items():
        several = sum(1 for w in lost_only.values() if w == worker) > 1
        labels[key] = f"{worker} pid {key[1]}" if several else worker
    return labels


def layout(outcomes: list[Outcome], width: int) -> Timeline:
    """Lay out the jobs that ran (succeeded or failed with a record) in `width` characters.

    The time axis starts at the first submit. A job's wait shows as dots where its row was
    idle: time the job spent in the queue although this slot could have taken it. Attempts
    the events saw lost are bars of their own, on their worker's row (lost_runs).
    """
    ran = [o for o in outcomes if o.record is not None]
    lost = lost_runs(outcomes)
    if not ran and not lost:
        return Timeline([], 0, 0.0, [], [])
    origin: datetime = min(o.submitted_at for o in outcomes)
    ends = [o.record.finished_at for o in ran] + [run.ended_at for _, run, _ in lost]  # type: ignore[union-attr]
    span_s = max((end - origin).total_seconds() for end in ends) or 1e-6
    labels = slot_labels(outcomes)
    label_width = min(max(len(label) for label in labels.values()), max(12, width // 3))
    columns = max(10, width - label_width - 1)

    def col(moment: datetime) -> int:
        return max(0, min(columns - 1, int((moment - origin).total_seconds() / span_s * columns)))

    # every attempt as (start, end, slot, outcome, lost run or None for the record's), drawn in order of start
    attempts = [(o.record.started_at, o.record.finished_at, o.record.slot_key, o, None)  # type: ignore[union-attr]
                for o in ran]
    attempts += [(run.started_at, run.ended_at, key, o, run) for o, run, key in lost]
    rows = {key: Row(label) for key, label in labels.items()}
    for started, finished, key, o, run in sorted(attempts, key=lambda a: a[0]):
        row = rows[key]
        start, end = col(started), col(finished)
        end = min(columns, max(end, start + 1))
        previous_end = row.bars[-1].end if row.bars else 0
        wait_from = max(col(_waiting_since(o, run)), previous_end)
        if wait_from < start:
            row.waits.append((wait_from, start))
        if run is not None:
            row.bars.append(Bar(o.job.task, start, end, lost=True))
            continue
        r = o.record
        assert r is not None
        bar = Bar(r.task, start, end, failed=o.status != "SUCCESS")
        if (cup_wait := r.cup_wait) is not None:
            wait_start, wait_end = max(start, col(cup_wait[0])), min(end, col(cup_wait[1]))
            if wait_end > wait_start:
                bar.cup_waits.append((wait_start, wait_end))
        row.bars.append(bar)

    queued = [0] * columns
    for o in outcomes:  # without events, only a job that ran has a wait (submit to start)
        for since, until, _ in o.queue_waits():
            for c in range(col(since), col(until)):
                queued[c] += 1

    step = _tick_step(span_s, columns)
    ticks, t = [], 0.0
    while t <= span_s + 1e-9:
        ticks.append((min(columns - 1, int(t / span_s * columns)), f"{t:g}s"))
        t = round(t + step, 6)
    ordered = [rows[key] for key in sorted(rows)]
    return Timeline(ordered[:MAX_ROWS], columns, span_s, queued, ticks, label_width,
                    hidden_rows=max(0, len(ordered) - MAX_ROWS))


def _waiting_since(outcome: Outcome, run: LostRun | None) -> datetime:
    """When the job went (back) to the queue before this attempt (None: the record's): its submit, or
    the end of the lost attempt before it."""
    lost = outcome.seen.lost if outcome.seen is not None else ()
    before = lost[:lost.index(run)] if run is not None else lost
    return before[-1].ended_at if before else outcome.submitted_at


def _bar_text(bar: Bar) -> str:
    """The bar's cells: ✗ for a failed job, the task's name if it fits, else its number, then the bar.

    Waits for the cup are ░; the name goes where the job ran, after a wait that starts the bar.
    An attempt lost with its worker ends in ✗, as in the live view (producer.views.lanes).
    """
    if bar.lost:
        return _lost_bar_text(bar)
    if bar.cup_waits:
        return _cup_bar_text(bar)
    cells = bar.end - bar.start
    name = bar.task if cells >= len(bar.task) + 1 else bar.task[-1] if bar.task[-1].isdigit() else bar.task[:1]
    if bar.failed:
        name = FAILED + (name if cells >= len(name) + 2 else "")
    return (name + BAR * cells)[:cells]


def _lost_bar_text(bar: Bar) -> str:
    cells = bar.end - bar.start
    room = cells - len(FAILED)
    name = bar.task if room >= len(bar.task) + 1 else bar.task[-1:] if room >= 2 else ""
    return ((name + BAR * cells)[:max(0, room)] + FAILED)[:cells]


def _cup_bar_text(bar: Bar) -> str:
    cells = [BAR] * (bar.end - bar.start)
    for start, end in bar.cup_waits:
        cells[start - bar.start:end - bar.start] = CUP_WAIT * (end - start)
    running = [i for i, c in enumerate(cells) if c == BAR]
    if running:  # the name in the first stretch where the job ran, as long as it fits
        first = running[0]
        room = next((i for i in range(first, len(cells)) if cells[i] != BAR), len(cells)) - first
        name = bar.task if room >= len(bar.task) + 1 else bar.task[-1] if bar.task[-1].isdigit() else bar.task[:1]
        name = (FAILED if bar.failed else "") + name
        cells[first:first + min(room, len(name))] = name[:room]
    return "".join(cells)


_STYLES = {"task1": "bold cyan", "task2": "bold magenta"}


def render(timeline: Timeline) -> list[Text]:
    """The timeline as lines of rich Text: a queue line, one line per slot, the time axis."""
    if not timeline.rows:
        return [Text("(no finished job to draw)")]
    label_width = timeline.label_width
    lines = []
    queue = "".join(" " if n == 0 else str(n) if n < 10 else "+" for n in timeline.queued)
    # assembled, not added: `Text(label, style) + cells` would make the whole line that style (dim bars)
    queue_line = Text.assemble((f"{'queued':>{label_width}} ", "dim"), (queue, "yellow"))
    queue_line.rstrip()  # no padding, not even after the label when nothing was queued
    lines.append(queue_line)
    for row in timeline.rows:
        label = row.label if len(row.label) <= label_width else "…" + row.label[-(label_width - 1):]
        cells = Text(" " * timeline.columns)
        for start, end in row.waits:
            cells = cells[:start] + Text(WAIT * (end - start), style="yellow") + cells[end:]
        for bar in row.bars:
            style = LOST_STYLE if bar.lost else "bold red" if bar.failed else _STYLES.get(bar.task, "bold green")
            drawn = Text(_bar_text(bar), style=style)
            for start, end in bar.cup_waits:
                drawn.stylize("dim yellow", start - bar.start, end - bar.start)
            cells = cells[:bar.start] + drawn + cells[bar.end:]
        cells.rstrip()
        lines.append(Text.assemble((f"{label:>{label_width}} ", "dim"), cells))
    if timeline.hidden_rows:
        lines.append(Text(f"{'':>{label_width}} (+{timeline.hidden_rows} more worker slots not drawn)", style="dim"))
    axis = [" "] * timeline.columns
    for column, label in timeline.ticks:  # a label that would run past the edge moves left
        at = max(0, min(column, timeline.columns - len(label)))
        axis[at:at + len(label)] = label
    tick_columns = {c for c, _ in timeline.ticks}
    marks = "".join("┬" if column in tick_columns else "─" for column in range(timeline.columns))
    lines.append(Text(f"{'':>{label_width}} " + marks, style="dim"))
    lines.append(Text((f"{'':>{label_width}} " + "".join(axis)).rstrip(), style="dim"))
    return lines
