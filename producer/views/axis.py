"""The time axis in character columns: where a moment falls, where a bar goes, which ticks, what a bar says.

One layout for both terminal pictures: `producer.views.timeline` (a finished run, from its
first submit to its last end) and `producer.views.lanes` (the live view: a window that fills
up during a run or scrolls up to now). Pure: seconds in, columns and strings out.

Column c of `columns` covers [c, c + 1) * span_s / columns seconds from the start. A moment
falls in the column it is inside, clamped to the axis (a clock far off is drawn at the edge,
not lost); a range [from, to) covers the columns from the one `from` falls in up to the
boundary at or before `to`, so a bar that ends with the axis reaches its last column. Ticks
use the same mapping, so a tick stands over the column a bar starting at that moment starts in.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

BAR = "━"  # a job running (or that ran)
FAILED = "✗"  # the job raised, or its worker died under it
LABEL_COLUMNS = 8  # at most one tick label per 8 columns: "-0.5s" and room on either side
EPSILON = 1e-9  # 0.3 s of 3 s over 30 columns is 2.9999999999999996 in floats: still column 3
#: Round tick steps below 10 s, in seconds; from 10 s on the steps follow the clock (CLOCK_STEPS_S).
DECIMAL_STEPS_S = tuple(m * 10.0**e for e in range(-3, 1) for m in (1, 2, 5))
CLOCK_STEPS_S = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
DAY_S = 86400


def tick_steps() -> Iterator[float]:
    """Every round step, smallest first: 1, 2, 5 ms ... 5 s, 10 s, 15 s, 30 s, 1 min ... 12 h, 1, 2, 5, 10 ... days.

    Endless, so a span of any length finds a step that leaves its labels room.
    """
    yield from DECIMAL_STEPS_S
    yield from CLOCK_STEPS_S
    for e in itertools.count():
        for m in (1, 2, 5):
            yield m * 10**e * DAY_S


def tick_step(span_s: float, columns: int) -> float:
    """The smallest round step that puts ticks at least LABEL_COLUMNS columns apart on this axis."""
    if span_s <= 0 or columns <= 0:
        raise ValueError(f"no tick step for {span_s} s over {columns} columns")
    return next(step for step in tick_steps() if span_s / step * LABEL_COLUMNS <= columns)


def seconds_label(seconds: float) -> str:
    """`seconds` as a tick says it: 0.5s, 2s, 3600s (no exponent, no float noise: 0.30000000000000004 is 0.3)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


@dataclass(frozen=True)
class Axis:
    """`span_s` seconds from `start_s` laid over `columns` (at least 1) character columns."""

    start_s: float
    span_s: float
    columns: int

    def _boundary(self, offset_s: float) -> int:
        """The column boundary at or before `offset_s` seconds into the axis, clamped to [0, columns]."""
        if self.span_s <= 0:
            return 0  # nothing to spread over the columns: everything starts at the left
        return max(0, min(self.columns, math.floor(offset_s / self.span_s * self.columns + EPSILON)))

    def column(self, t_s: float) -> int:
        """The column the moment `t_s` falls in; the axis' end falls in the last column."""
        return max(0, min(self.columns - 1, self._boundary(t_s - self.start_s)))

    def edge(self, t_s: float) -> int:
        """Where a range that ends at `t_s` stops: the column boundary at or before it (exclusive)."""
        return self._boundary(t_s - self.start_s)

    def bar(self, start_s: float, end_s: float) -> tuple[int, int]:
        """Columns [start, end) of something that ran from `start_s` to `end_s`: inside the axis, and at least
        one column, so a job shorter than a column (or one that took no time) is still drawn."""
        # column() and edge() written out: a live frame under load asks this of thousands of runs
        span_s, columns = self.span_s, self.columns
        if span_s <= 0:
            return 0, 1
        start = math.floor((start_s - self.start_s) / span_s * columns + EPSILON)
        start = 0 if start < 0 else start if start < columns else max(0, columns - 1)
        end = min(columns, math.floor((end_s - self.start_s) / span_s * columns + EPSILON))
        return start, end if end > start else start + 1

    def ticks(self, relative_to_end: bool = False) -> list[tuple[int, str]]:
        """(column, label) every round step, sorted: up from the start (0s, 0.5s, 1s, ...), or back from the
        end (..., -1s, -0.5s, now), each over the column its moment falls in. None on an empty axis."""
        if self.span_s <= 0 or self.columns <= 0:
            return []
        step = tick_step(self.span_s, self.columns)
        marks = []
        for k in range(int(self.span_s / step + EPSILON) + 1):
            offset_s = k * step
            if relative_to_end:
                at = self.span_s - offset_s
                marks.append((self.column(self.start_s + at), "-" + seconds_label(offset_s) if k else "now"))
            else:
                marks.append((self.column(self.start_s + offset_s), seconds_label(offset_s)))
        return sorted(marks)


def placed_labels(ticks: list[tuple[int, str]], columns: int) -> list[tuple[int, str]]:
    """(first column, label) of the ticks' labels that fit on one line of `columns` characters, left to right.

    A label that would run past the right edge moves left; one that would touch or cover its
    right-hand neighbour is left out (placed from the right: the axis' end, "now" or the run's
    last second, is the one kept); one longer than the axis is left out. The one rule for the
    terminal's line (`tick_labels`) and the notebook's picture (`producer.views.svg_lanes`).
    """
    placed = []
    free_until = columns  # cells [0, free_until) are free; a placed label keeps one blank cell before it
    for column, label in sorted(ticks, reverse=True):
        at = min(column, columns - len(label))
        if 0 <= at and at + len(label) <= free_until:
            placed.append((at, label))
            free_until = at - 1
    return placed[::-1]


def tick_labels(ticks: list[tuple[int, str]], columns: int) -> str:
    """The ticks' labels on one line of `columns` characters, each starting under its tick (`placed_labels`)."""
    cells = [" "] * columns
    for at, label in placed_labels(ticks, columns):
        cells[at:at + len(label)] = label
    return "".join(cells)


def tick_line(ticks: list[tuple[int, str]], columns: int) -> str:
    """The axis line itself: ─ with a ┬ over each tick's column."""
    at = {column for column, _ in ticks}
    return "".join("┬" if column in at else "─" for column in range(columns))


def short_name(name: str) -> str:
    """One character for a task's name where the whole does not fit: its number (task2), else its initial."""
    return name[-1] if name[-1:].isdigit() else name[:1]


@functools.lru_cache(maxsize=4096)  # a frame asks the same few thousand times: a few names, a few widths
def bar_text(name: str, cells: int, lead: str = "", mark: str = "") -> str:
    """What a bar of `cells` columns says: `lead`, the task's name, ━ to the end, `mark` last.

    The name is written whole when a ━ still fits after it, else shortened to one character
    (short_name) when a ━ fits after that, else left out: a bar always reads as a bar. The
    lead and the mark are never dropped for the name; on a bar too short for both, the lead wins.
    """
    room = cells - len(lead) - len(mark)
    label = name if room >= len(name) + 1 else short_name(name) if room >= 2 else ""
    body = (label + BAR * cells)[:max(0, room)]
    return (lead + body + mark)[:max(0, cells)]
