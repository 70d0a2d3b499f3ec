"""How far a run got while it waits: a bar on a terminal, a plain line at a steady pace anywhere else.

rich's bar redraws itself in place, which a pipe, a log file or `docker compose run` into a
pipe cannot show, so off a terminal it draws nothing at all: a run of 100,000 jobs said
nothing for minutes, and looked dead. There the same counts go to stderr as a line every
few seconds instead (stdout stays the report or the JSON), and a run shorter than the first
pause adds no line at all.
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


class PlainLines(Shown):
    """A run's counts as a plain line, written when the pace says so: `tick` decides on `clock`'s time.

    Pure but for `write` and `clock`, both injected: the pace is tested without waiting.
    """

    def __init__(self, total: int, write: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.write = write
        self.clock = clock
        self.started_at = self.last_at = clock()
        self.submitted = self.finished = self.failed = 0

    def on_submitted(self, count: int) -> None:
        self.submitted = count

    def on_result(self, outcome: Outcome) -> None:
        self.finished += 1
        self.failed += outcome.status != Status.SUCCESS

    def tick(self) -> bool:
        """Write the line if its pause is over (EVERY_S, LATER_EVERY_S after the first minute); whether it did."""
        now = self.clock()
        elapsed = now - self.started_at
        if now - self.last_at < (EVERY_S if elapsed < LATER_AFTER_S else LATER_EVERY_S):
            return False
        self.last_at = now
        self.write(self.line(elapsed))
        return True

    def line(self, elapsed_s: float) -> str:
        """`run 15 s: 40960 of 100000 jobs submitted, 1200 finished`; once all are out, `... jobs finished`."""
        failed = f", {self.failed} failed" if self.failed else ""
        if self.submitted < self.total:
            return (f"run {elapsed_s:.0f} s: {self.submitted} of {self.total} jobs submitted, "
                    f"{self.finished} finished{failed}")
        return f"run {elapsed_s:.0f} s: {self.finished} of {self.total} jobs finished{failed}"


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
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console, transient=True)
        self.track = self.progress.add_task(title, total=total)

    def on_result(self, outcome: Outcome) -> None:
        self.progress.advance(self.track)


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
        def write(line: str) -> None:
            console.print(line, markup=False, highlight=False, soft_wrap=True)

        with ticking(PlainLines(total, write)) as lines:
            yield lines
