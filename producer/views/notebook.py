"""The live lanes in a notebook: the run drawn in the cell's output while it runs, the last frame kept.

The same follower and frames as the terminal's live view (`producer.views.live.Following`: the
cluster's events, laid out by `producer.views.lanes`), drawn as a picture (`producer.views.svg_lanes`)
in one display that is updated in place REFRESH_PER_S times a second (IPython's display handle:
`display(..., display_id=True)`, then `.update`). The last update is the run's picture: a notebook
saved after the run keeps it, and a front end without HTML shows the terminal's text of it.

Only where a notebook shows it: `front_end()` is true in an IPython kernel that talks to a front
end over ZMQ (JupyterLab, Notebook, VS Code, nbclient in the tests: ipykernel's ZMQInteractiveShell,
or a subclass of it, as Colab's). A plain `python`, a terminal IPython or a test calling the library
follows nothing and shows nothing, so the library's results and output are as they were.
"""

from __future__ import annotations

import contextvars
import io
import math
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery, states
from rich.console import Console

from cluster.events import ClusterEvents
from producer.views.lanes import Frame
from producer.views.live import MAX_TASKS, Following, draw, expected_run_s, frame_ticks
from producer.views.progress import Shown
from producer.views.svg_lanes import picture

COLUMNS = 110  # the picture's width in character columns: 888 px or so, a notebook's output width
#: At a run's end, the most its picture waits for the events of its last jobs: a job's result
#: (what the run waits for) can reach the producer before its task-succeeded event does.
SETTLE_S = 1.0


def front_end() -> bool:
    """Whether this process is a Jupyter kernel whose outputs a front end shows (see the module's docstring).

    Read from the modules already imported, importing none: a kernel has imported both, and a
    process that has not is no kernel (IPython need not even be installed).
    """
    ipython, zmqshell = sys.modules.get("IPython"), sys.modules.get("ipykernel.zmqshell")
    if ipython is None or zmqshell is None:
        return False
    return isinstance(ipython.get_ipython(), zmqshell.ZMQInteractiveShell)


def bundle(frame: Frame, whole_text: bool = True) -> dict[str, str]:
    """A frame as a display's data: the picture, and the terminal's text of it for front ends without HTML.

    `whole_text=False` (the updates between a display's first and last frame): the text is the headline
    only. A front end without HTML shows a display's last data, the one a saved notebook keeps, and
    drawing the lanes as text too would cost every update a fifth of its time (at 32 workers).
    """
    if not whole_text:
        return {"text/html": picture(frame), "text/plain": frame.headline_text()}
    # force_jupyter=False: in a kernel, rich would display what it prints as an output of its own
    console = Console(file=io.StringIO(), width=COLUMNS + 1, color_system=None, force_jupyter=False)
    console.print(draw(frame))
    text = "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())
    return {"text/html": picture(frame), "text/plain": text}


def drawn(following: Following, columns: int = COLUMNS, settled: bool = False,
          whole_text: bool = True) -> dict[str, str]:
    """One frame of `following` as a display's data: its facts, then its picture, each made in one go, the events
    paused meanwhile (`ClusterEvents.paused`, as on a terminal); the display's update is sent after, unpaused."""
    frame = following.facts(columns, settled=settled)
    with following.events.paused():
        return bundle(frame, whole_text)


@contextmanager
def followed(following: Following) -> Iterator[Following]:
    """`following` started for the block (its events, then the expected workers' lanes), then let go: not
    waited for, as its events thread notices within a second and ends by itself (a daemon), and the next
    cell need not wait that second."""
    try:
        following.start()
        yield following
    finally:
        following.stop(wait_s=0)


class Drawn:
    """`following` drawn in the cell's output while the block runs: a frame now, then REFRESH_PER_S a second
    (`frame_ticks`) from a thread of its own, and a last one as the block ends (the run's picture).

    A run's last frame waits up to SETTLE_S for its jobs' last events and ends its window where the
    run did; a block left by an exception (Ctrl-C, the kernel's interrupt) draws its last frame at once.
    The follower is its caller's, started before (`followed`).
    """

    def __init__(self, following: Following, columns: int = COLUMNS) -> None:
        self.following = following
        self.columns = columns
        self.updates = 0  # frames sent after the first
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle: Any = None

    def __enter__(self) -> Drawn:
        from IPython.display import display  # only here: front_end() said IPython runs this process

        self._handle = display(self.bundle(), raw=True, display_id=True)
        # the thread runs in a copy of this context: ipykernel names the cell an output belongs to in a
        # context variable, so the updates go to this cell's output, as a frame of this cell
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._refresh,), name="notebook-lanes",
                                        daemon=True)
        self._thread.start()
        return self

    def bundle(self, settled: bool = False, whole_text: bool = True) -> dict[str, str]:
        return drawn(self.following, self.columns, settled, whole_text)

    def _refresh(self) -> None:
        for _ in frame_ticks(self._stop):
            self._handle.update(self.bundle(whole_text=False), raw=True)
            self.updates += 1

    def settle(self) -> None:
        """Until every job the events saw has told its end (or SETTLE_S): the last frame shows each one done."""
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline and any(
                t.state not in states.READY_STATES for t in self.following.events.snapshot().tasks):
            time.sleep(0.02)

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        run = not self.following.scrolling
        try:
            if run and exc_type is None:
                self.settle()  # still drawn meanwhile
        finally:  # an interrupt in the wait too: the thread stops, and the last frame is drawn
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            self._handle.update(self.bundle(settled=run), raw=True)
            self.updates += 1


@contextmanager
def followed_run(app: Celery, queue: str, jobs: int, slots: int, duration_s: float,
                 workers: int = 0) -> Iterator[ClusterEvents | None]:
    """A run drawn live in the cell's output where a notebook shows it (`front_end`); yields the events followed
    (what the batch's story adds of each job), or None where nothing is drawn."""
    if not front_end():
        yield None
        return
    following = Following(app, (queue,), expected_run_s(jobs, slots, duration_s), scrolling=False, title="run",
                          expected_workers=workers, max_tasks=max(MAX_TASKS, 2 * jobs))
    with followed(following), Drawn(following):
        yield following.events


class Parts(Shown):
    """Each part of a command that runs its batches in parts (the sweep's points, the quiz's scenes) drawn live
    in the cell's output while it runs, each a picture of its own that stays when the part ends; one
    follower for them all (`parts`)."""

    def __init__(self, following: Following, name: str, slots: int, duration_s: float) -> None:
        self.following = following
        self.name = name
        self.slots = slots  # the most a part runs on: its first window, stretched when it takes longer
        self.duration_s = duration_s

    @contextmanager
    def part(self, label: str, total: int) -> Iterator[Parts]:
        self.following.begin(f"{self.name}: {label}", expected_run_s(total, self.slots, self.duration_s))
        with Drawn(self.following):
            yield self


@contextmanager
def parts(app: Celery, name: str, queues: tuple[str, ...], slots: int, duration_s: float,
          workers: int = 0) -> Iterator[Shown]:
    """`Parts` for the block where a notebook shows them (`front_end`), following the cluster from now on; else a
    `Shown` that shows nothing. `queues`: whose depth the headline shows (the quiz's scenes each have their own:
    none)."""
    if not front_end():
        yield Shown()
        return
    following = Following(app, queues, expected_run_s(1, slots, duration_s), scrolling=False, title=name,
                          expected_workers=workers)
    with followed(following):
        yield Parts(following, name, slots, duration_s)


def watch(app: Celery, queues: tuple[str, ...], seconds: float, stop_after_s: float | None = None) -> None:
    """The whole cluster in the cell's output, its last `seconds` scrolling, until the kernel is interrupted
    (or `stop_after_s`): the interrupt ends it quietly, its last frame kept."""
    expected = len(app.control.ping(timeout=0.5) or [])  # who is up: the first frame shows them all
    following = Following(app, queues, seconds, scrolling=True, title="watch", expected_workers=expected)
    deadline = math.inf if stop_after_s is None else time.monotonic() + stop_after_s
    with followed(following), Drawn(following):
        try:
            while time.monotonic() < deadline:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass  # the kernel's interrupt (■): the end asked for, not an error
