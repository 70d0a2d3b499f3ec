"""The run drawn in the terminal: one row per worker slot, one bar per job, queue waits shown.

`layout` is pure (outcomes in, cells out) so it is unit-tested; `render` turns it into rich
Text, coloured on a terminal and plain elsewhere (rich decides). Outcomes are expected on
the producer's clock (producer.story); anything outside the run is clamped to the axis.
Columns, ticks and what a bar says come from `producer.views.axis`, the live view's too.
Every run of a job other than its record's (producer.story.placed_attempts: lost with its
worker, cancelled, fenced off, failed and retried, still running) is a bar on the row of the
slot that ran it; when the events were followed, the queue line counts a job until a worker took it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rich.text import Text

from producer import jobs
from producer.jobs import Outcome, Status
from producer.story import SlotKey, placed_attempts, slot_runs
from producer.views.axis import BAR, FAILED, Axis, bar_text, tick_labels, tick_line

WAIT = "·"  # queued: submitted, not started yet
CUP_WAIT = "░"  # running, but waiting for the one cup (a lock another job holds)
LOST_STYLE = "red dim"  # an attempt lost with its worker: the live view's style too (producer.views.live)
MAX_ROWS = 64  # more slots than that are summed up in one line
LEGEND = ("timeline: one row per worker slot; ━ a job, ✗ failed, · waited while this slot was idle; "
          "queued: jobs waiting (+ = 10 or more)")
#: Added to LEGEND when a job waited for the cup.
CUP_LEGEND = "; ░ waited for the cup"
#: Added to LEGEND when an attempt ended unfinished (its worker died, was cut off, or lost Redis).
LOST_LEGEND = "; ━✗ ended unfinished (its worker died, was cut off, or lost Redis)"
#: Added to LEGEND when a job was still running when the producer stopped waiting.
RUNNING_LEGEND = "; ━… still running when the producer stopped waiting"
RUNNING_MARK = "…"


@dataclass
class Bar:
    """One job in its row: columns [start, end), the task's name, whether it failed or was lost with its worker,
    when it waited for the cup."""

    task: str
    start: int
    end: int
    failed: bool = False
    lost: bool = False
    running: bool = False  # had not ended when the producer stopped waiting
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
            + (LOST_LEGEND if any(bar.lost for bar in bars) else "")
            + (RUNNING_LEGEND if any(bar.running for bar in bars) else ""))


def slot_labels(outcomes: list[Outcome]) -> dict[SlotKey, str]:
    """A short label per slot: `worker@host pid 8`, with `#2`... when a process has several.

    A slot only attempts without a record ran on is labelled with its worker's name (and the
    pid when that worker had several).
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
    lost_only = {key: lost.worker for _, lost, key in placed_attempts(outcomes) if key not in labels}
    for key, worker in lost_only.items():
        several = sum(1 for w in lost_only.values() if w == worker) > 1
        labels[key] = f"{worker} pid {key[1]}" if several else worker
    return labels


def layout(outcomes: list[Outcome], width: int) -> Timeline:
    """Lay out the jobs that ran (succeeded or failed with a record, and every other attempt) in `width` characters.

    The time axis starts at the first submit. A job's wait shows as dots where its row was
    idle: time the job spent in the queue although this slot could have taken it. Every
    other run of a job is a bar of its own on the row of the slot that ran it (placed_attempts).
    """
    ran = [o for o in outcomes if o.record is not None]
    lost = placed_attempts(outcomes)
    if not ran and not lost:
        return Timeline([], 0, 0.0, [], [])
    origin: datetime = min(o.submitted_at for o in outcomes)
    ends = [o.record.finished_at for o in ran] + [run.ended_at for _, run, _ in lost]  # type: ignore[union-attr]
    span_s = max((end - origin).total_seconds() for end in ends) or 1e-6
    labels = slot_labels(outcomes)
    label_width = min(max(len(label) for label in labels.values()), max(12, width // 3))
    columns = max(10, width - label_width - 1)
    axis = Axis(0.0, span_s, columns)

    def at(moment: datetime) -> float:
        return (moment - origin).total_seconds()

    rows = {key: Row(label) for key, label in labels.items()}
    for run in slot_runs(outcomes):  # in order of start: each after the bar before it on its row
        row, o, lost = rows[run.key], run.outcome, run.attempt
        start, end = axis.bar(at(run.started_at), at(run.ended_at))
        previous_end = row.bars[-1].end if row.bars else 0
        wait_from = max(axis.column(at(run.idle_since)), previous_end) if run.idle_since is not None else start
        if wait_from < start:
            row.waits.append((wait_from, start))
        if lost is not None:
            row.bars.append(Bar(o.job.task, start, end, lost=lost.end in jobs.BACK_IN_QUEUE,
                                failed=lost.end in (jobs.RETRIED, jobs.FAILED), running=lost.end == jobs.RUNNING))
            continue
        r = o.record
        assert r is not None
        bar = Bar(r.task, start, end, failed=o.status != Status.SUCCESS)
        if (cup_wait := r.cup_wait) is not None:
            wait_start, wait_end = max(start, axis.column(at(cup_wait[0]))), min(end, axis.edge(at(cup_wait[1])))
            if wait_end > wait_start:
                bar.cup_waits.append((wait_start, wait_end))
        row.bars.append(bar)

    queued = [0] * columns
    for o in outcomes:  # without events, only a job that ran has a wait (submit to start)
        for since, until, _ in o.queue_waits():
            for c in range(axis.column(at(since)), axis.edge(at(until))):
                queued[c] += 1

    ordered = [rows[key] for key in sorted(rows)]
    return Timeline(ordered[:MAX_ROWS], columns, span_s, queued, axis.ticks(), label_width,
                    hidden_rows=max(0, len(ordered) - MAX_ROWS))


def _bar_text(bar: Bar) -> str:
    """The bar's cells (producer.views.axis.bar_text): ✗ first for a failed job, then the task's name as far
    as it fits, then the bar.

    Waits for the cup are ░; the name goes where the job ran, after a wait that starts the bar.
    An attempt lost with its worker ends in ✗, as in the live view (producer.views.lanes).
    """
    if bar.lost:
        return bar_text(bar.task, bar.end - bar.start, mark=FAILED)
    if bar.running:
        return bar_text(bar.task, bar.end - bar.start, mark=RUNNING_MARK)
    if bar.cup_waits:
        return _cup_bar_text(bar)
    return bar_text(bar.task, bar.end - bar.start, lead=FAILED if bar.failed else "")


def _cup_bar_text(bar: Bar) -> str:
    cells = [BAR] * (bar.end - bar.start)
    for start, end in bar.cup_waits:
        cells[start - bar.start:end - bar.start] = CUP_WAIT * (end - start)
    running = [i for i, c in enumerate(cells) if c == BAR]
    if running:  # the name in the first stretch where the job ran
        first = running[0]
        room = next((i for i in range(first, len(cells)) if cells[i] != BAR), len(cells)) - first
        cells[first:first + room] = bar_text(bar.task, room, lead=FAILED if bar.failed else "")
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
            style = LOST_STYLE if bar.lost else "bold red" if bar.failed else "dim" if bar.running else \
                _STYLES.get(bar.task, "bold green")
            drawn = Text(_bar_text(bar), style=style)
            for start, end in bar.cup_waits:
                drawn.stylize("dim yellow", start - bar.start, end - bar.start)
            cells = cells[:bar.start] + drawn + cells[bar.end:]
        cells.rstrip()
        lines.append(Text.assemble((f"{label:>{label_width}} ", "dim"), cells))
    if timeline.hidden_rows:
        lines.append(Text(f"{'':>{label_width}} (+{timeline.hidden_rows} more worker slots not drawn)", style="dim"))
    lines.append(Text(f"{'':>{label_width}} " + tick_line(timeline.ticks, timeline.columns), style="dim"))
    labels = tick_labels(timeline.ticks, timeline.columns)
    lines.append(Text((f"{'':>{label_width}} " + labels).rstrip(), style="dim"))
    return lines
