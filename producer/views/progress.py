"""How far a run got while it waits: a bar on a terminal, a plain line at a steady pace anywhere else.

rich's bar redraws itself in place, which a pipe, a log file or `docker compose run` into a
pipe cannot show, so off a terminal it draws nothing at all: a run of 100,000 jobs said
nothing for minutes, and looked dead. There the same counts go to stderr as a line every
few seconds instead (stdout stays the report or the JSON), and a run shorter than the first
pause adds no line at all.

`compare`, `sweep` and `quiz` run their jobs in parts (a row of the comparison, a point of the
sweep, a scene of the quiz): each part is drawn while it runs (`Shown.part`), a bar of its own on a
terminal, elsewhere the same lines at the command's one pace, saying which part runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producer.jobs import Outcome, Status

#: Seconds between two plain lines in a run's first minute: alive, and not a flood.
EVERY_S = 5.0
#: After that first minute, a line this often: an hour's run writes ~130 lines, not 720.
LATER_EVERY_S = 30.0
LATER_AFTER_S = 60.0
#: How often the pacing is looked at: a line is late by this much at most.
TICK_S = 0.5


class Shown:
    """What the run tells its progress: jobs in Redis so far, each result as it arrives. Shows nothing."""

    def on_submitted(self, count: int) -> None:
        pass

    def on_result(self, outcome: Outcome) -> None:
        pass

    @contextmanager
    def part(self, label: str, total: int) -> Iterator[Shown]:
        """One part of a command that runs several batches, `total` jobs (0: none of them in Redis), under `label`."""
        yield self


class PlainLines(Shown):
    """A run's counts as a plain line, written when the pace says so: `tick` decides on `clock`'s time.

    Pure but for `write` and `clock`, both injected: the pace is tested without waiting. A command of
    `parts` (`name` compare, sweep, quiz) writes only while a part runs: not while a quiz waits for
    the learner's answer.
    """

    def __init__(self, total: int, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 name: str = "run", parts: bool = False) -> None:
        self.total = total
        self.write = write
        self.clock = clock
        self.name = name
        self.label = ""
        self.between_parts = parts
        self.started_at = self.last_at = clock()
        self.submitted = self.finished = self.failed = 0

    def on_submitted(self, count: int) -> None:
        self.submitted = count

    def on_result(self, outcome: Outcome) -> None:
        self.finished += 1
        self.failed += outcome.status != Status.SUCCESS

    @contextmanager
    def part(self, label: str, total: int) -> Iterator[PlainLines]:
        """Count the part's jobs afresh under `label`; the clock and the pace go on from the command's start,
        so a sweep of many steps shorter than EVERY_S still writes a line every EVERY_S."""
        self.submitted = self.finished = self.failed = 0
        self.total, self.label, self.between_parts = total, label, False
        try:
            yield self
        finally:
            self.between_parts = True

    def tick(self) -> bool:
        """Write the line if its pause is over (EVERY_S, LATER_EVERY_S after the first minute); whether it did."""
        now = self.clock()
        elapsed = now - self.started_at
        if self.between_parts or now - self.last_at < (EVERY_S if elapsed < LATER_AFTER_S else LATER_EVERY_S):
            return False
        self.last_at = now
        self.write(self.line(elapsed))
        return True

    def line(self, elapsed_s: float) -> str:
        """`run 15 s: 40960 of 100000 jobs submitted, 1200 finished`; once all are out, `... jobs finished`.

        A part is named first (`sweep 35 s: 2 of 4 workers, 3 of 8 jobs finished`); one without jobs
        in Redis (compare's loop, run here) only by its name.
        """
        head = f"{self.name} {elapsed_s:.0f} s: "
        if not self.total:
            return head + self.label
        return head + (f"{self.label}, " if self.label else "") + self.counts()

    def counts(self) -> str:
        """`40960 of 100000 jobs submitted, 1200 finished` until all are out, then `1200 of 100000 jobs finished`."""
        failed = f", {self.failed} failed" if self.failed else ""
        if self.submitted < self.total:
            return f"{self.submitted} of {self.total} jobs submitted, {self.finished} finished{failed}"
        return f"{self.finished} of {self.total} jobs finished{failed}"


@contextmanager
def ticking(lines: PlainLines) -> Iterator[PlainLines]:
    """`lines.tick()` every TICK_S on a thread of its own, until the block ends: a wait that hears
    nothing (every worker busy with a long job) still says it is alive."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(TICK_S):
            lines.tick()

    thread = threading.Thread(target=loop, name="progress-lines", daemon=True)
    thread.start()
    try:
        yield lines
    finally:
        stop.set()
        thread.join()


class Bar(Shown):
    """rich's bar, on a terminal: results against the total, time elapsed (transient: the report follows)."""

    def __init__(self, console: Console, total: int, title: str) -> None:
        self.title = title
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=True)
        self.track = self.progress.add_task(title, total=total)

    def on_result(self, outcome: Outcome) -> None:
        self.progress.advance(self.track)

    @contextmanager
    def part(self, label: str, total: int) -> Iterator[Bar]:
        """A bar of the part's own, drawn only while it runs: gone before what the command prints after it
        (a quiz's scene, its next question). A part without jobs in Redis pulses (no total)."""
        self.progress.remove_task(self.track)
        self.track = self.progress.add_task(f"{self.title}: {label}", total=total or None)
        with self.progress:
            yield self


@contextmanager
def run_progress(console: Console, total: int, title: str, show: bool = True) -> Iterator[Shown | PlainLines]:
    """A run's progress on `console` (stderr) while the block runs: a bar on a terminal, else plain lines
    at a steady pace; nothing when not `show` (--no-progress, or the live view draws the run)."""
    if not show:
        yield Shown()
    elif console.is_terminal:
        bar = Bar(console, total, title)
        with bar.progress:
            yield bar
    else:
        with ticking(PlainLines(total, writer(console))) as lines:
            yield lines


@contextmanager
def parts_progress(console: Console, name: str, show: bool = True) -> Iterator[Shown]:
    """The progress of a command that runs its jobs part by part (`Shown.part`): compare's rows, sweep's
    points, the quiz's scenes. On a terminal each part gets a bar while it runs; else plain lines at one
    pace for the whole command, each naming the part that runs; nothing when not `show` (--no-progress)."""
    if not show:
        yield Shown()
    elif console.is_terminal:
        yield Bar(console, 0, name)  # not drawn until a part runs
    else:
        with ticking(PlainLines(0, writer(console), name=name, parts=True)) as lines:
            yield lines


def writer(console: Console) -> Callable[[str], None]:
    """Write a plain line on `console` as it is: no markup read into it, no colours, never wrapped."""
    def write(line: str) -> None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    return write
