"""The live view: `python -m producer run` on a terminal, and `python -m producer watch`.

`ClusterEvents` (cluster.events) follows the cluster's events; 4 times a second (`frame_ticks`:
from one frame's start to the next) rich's `Live` is asked to redraw and asks for a frame: a
snapshot of the events (it copies only the tasks an event changed since the last one), laid out
by `producer.views.lanes.lanes` (pure), the queue depth read from Redis (LLEN), drawn here.
Nothing else runs in between, so the view costs one snapshot and one LLEN per frame. A frame's
snapshot and layout, then its texts, are made in one go, the events thread paused meanwhile
(`ClusterEvents.paused`): Python runs one thread at a time, and a frame that took turns with a
busy events thread waited for the OS at every turn (a frame of 20 ms of CPU took 200-300 ms at
32 workers on 2 cores). What arrives meanwhile waits in the socket. Nothing that waits for I/O
is paused: the LLEN is read before, and rich writes to the terminal after.
`Following` is that follower and its frames' facts without the drawing: the notebook draws the
same frames as pictures (`producer.views.notebook`).
`python -m benchmarks --only view` measures it under load (docs/performance.md).
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from celery import Celery
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from cluster.errors import RET_OK, BrokerUnreachable
from cluster.events import ClusterEvents, EventState, Snapshot
from cluster.queues import priority_steps, read_depths
from cluster.workers import check_brokers, masked
from producer.views.axis import tick_labels
from producer.views.lanes import HEADLINE_GAP, Frame, Segment, lanes
from producer.views.timeline import LOST_STYLE
from settings import current
from worker import app as default_app

REFRESH_PER_S = 4
#: The least a frame's thread rests between two frames, whatever the schedule says: the events thread,
#: paused while a frame is made, then has its turn to catch up (frame_ticks).
FRAME_REST_S = 0.1
MAX_TASKS = 3000  # tasks the view remembers; older ones have scrolled out of any window anyway
QUEUE_EVERY_S = 0.5  # how often the queue depth is read
# The most the first frame waits for the lanes of workers known to be up: a worker that misses
# the receiver's wake-up still sends its heartbeat within Celery's interval (2 s). 1.5 s drew
# 2 of 4 lanes with 4 workers on 2 cores (tests/e2e/test_live_tmux.py).
FIRST_FRAME_WAIT_S = 2.5
STYLES = {"running": "bold yellow", "succeeded": "green", "failed": "bold red", "retried": "magenta",
          "lost": LOST_STYLE}


def frame_ticks(stop: threading.Event, per_s: float = REFRESH_PER_S, rest_s: float = FRAME_REST_S,
                clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Yields each time a frame is due, until `stop` is set: `per_s` a second, counted from one frame's
    start to the next, not from one's end to the next's start as rich's own refresh thread waits.

    On a busy machine a frame of 10 ms of CPU takes 100-350 ms (the OS shares 2 cores among ~70
    processes): waiting 1/per_s after it, frames came 0.4-0.7 s apart, and an event that arrived just
    after a frame's snapshot waited that long to be drawn. Here the next frame comes when due, but
    never sooner than `rest_s` after the last one ended (the events thread, paused meanwhile, catches up
    then), and a late frame moves the schedule: no burst of the frames it missed.
    """
    period_s = 1 / per_s
    due = clock() + period_s
    while not stop.wait(max(0.0, due - clock())):
        yield
        due = max(due + period_s, clock() + rest_s)


class QueueDepth:
    """Jobs waiting in each queue (cluster.queues.read_depths), read at most every QUEUE_EVERY_S; None while
    Redis is away. A client of its own with short timeouts: a frame never waits long for Redis."""

    def __init__(self, url: str, queues: tuple[str, ...], steps: list[int]) -> None:
        self.queues = queues
        self.steps = steps  # kombu's priority steps: a list of its own per step (cluster.queues.queue_lists)
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._read_at = 0.0
        self._depths: dict[str, int] | None = None

    def read(self) -> dict[str, int] | None:
        now = time.monotonic()
        if now - self._read_at < QUEUE_EVERY_S:
            return self._depths
        self._read_at = now
        try:
            self._depths = read_depths(self.client, self.queues, self.steps)
        except (redis.RedisError, OSError):
            self._depths = None
        return self._depths


#: The terminal's style of each piece of the header (Frame.headline); the others are plain.
HEADLINE_STYLES = {"title": "bold", "failed": "bold red", "retried": "magenta", "redelivered": "yellow"}


def header(frame: Frame) -> list[Text]:
    """The lines above the lanes: what, the queue, counts, and the broker's state when it is away."""
    line = Text(no_wrap=True, overflow="ellipsis")
    for i, (text, kind) in enumerate(frame.headline()):
        line.append((HEADLINE_GAP if i else "") + text, style=HEADLINE_STYLES.get(kind, ""))
    lines = [line]
    if (trouble := frame.trouble()) is not None:
        lines.append(Text(trouble, style="bold red", no_wrap=True, overflow="ellipsis"))
    return lines


def styled_runs(segments: list[Segment], columns: int) -> list[tuple[str, int, int]]:
    """The lane's bars as (style, from column, to column), bars of one style that touch as one: under load a
    lane holds a bar in nearly every column, and each style rich applies is work in every frame it renders."""
    runs: list[tuple[str, int, int]] = []
    for seg in segments:
        style, start, end = STYLES.get(seg.kind, ""), seg.start, min(seg.end, columns)
        if runs and runs[-1][0] == style and runs[-1][1] <= start <= runs[-1][2]:  # applied in order: the same cells
            runs[-1] = (style, runs[-1][1], max(end, runs[-1][2]))
        else:
            runs.append((style, start, end))
    return runs


def draw(frame: Frame) -> Group:
    """One frame: header lines, a lane per worker slot, the time axis."""
    view = frame.view
    out = header(frame)
    for lane in view.lanes:
        row = Text(lane.label.ljust(view.label_width)[: view.label_width] + " ",
                   style="dim" if lane.status != "alive" else "")
        row.append(lane.text(view.columns))
        offset = view.label_width + 1
        for style, start, end in styled_runs(lane.segments, view.columns):
            row.stylize(style, offset + start, offset + end)
        out.append(row)
    if not view.lanes:
        out.append(Text("no worker seen yet (workers send events with -E)", style="dim"))
    if view.hidden_lanes:
        out.append(Text(f"+{view.hidden_lanes} more lanes (a taller terminal shows them)", style="dim"))
    out.append(Text(" " * (view.label_width + 1) + tick_labels(view.ticks, view.columns), style="dim"))
    return Group(*out)


class Following:
    """The cluster's events followed, and each frame's facts as of now: what both renderings draw,
    rich's Live on a terminal (`LiveCluster`) and a notebook's display (`producer.views.notebook`).

    `scrolling` shows the last `window_s` seconds up to now (`watch`); otherwise the window starts at the
    run's first submit, `window_s` wide, stretched while the run takes longer.
    """

    def __init__(self, app: Celery, queues: tuple[str, ...], window_s: float, scrolling: bool, title: str,
                 expected_workers: int = 0, max_tasks: int = MAX_TASKS) -> None:
        # the tasks a frame walks through: 10,000 (Celery's default) cost ~50 ms a frame, 3,000 ~15 ms
        self.events = ClusterEvents(app, EventState(max_tasks_in_memory=max_tasks))
        self.depth = QueueDepth(app.conf.broker_url, queues, priority_steps(app))
        self.window_s = window_s
        self.scrolling = scrolling
        self.title = title
        self.drawn: Snapshot | None = None  # the last frame's facts: `benchmarks.view` reads its event count
        self.expected_workers = expected_workers  # the first frame waits (briefly) for their lanes
        self.since: float | None = None  # a run's frames leave out the jobs finished before then (`begin`)

    def begin(self, title: str, window_s: float) -> None:
        """A new run followed by the same follower (a sweep's next step): its frames start at its first job,
        the jobs finished before now left out. Saves a follower's start (a second: the workers' first
        heartbeats) for each step."""
        self.title, self.window_s, self.since = title, window_s, time.time()

    def facts(self, width: int, max_lanes: int | None = None, settled: bool = False) -> Frame:
        """One frame as of now, `width` columns: snapshot, lanes, queue depth.

        `settled`: the run is over and this frame is kept as its picture (the notebook's last), so its
        window ends where the run did instead of leaving room for it to go on.
        """
        depths = self.depth.read()  # Redis first, outside the pause: a slow answer keeps no event waiting
        with self.events.paused():  # the snapshot and the layout in one go (ClusterEvents.paused)
            return self._laid_out(width, max_lanes, settled, depths)

    def _laid_out(self, width: int, max_lanes: int | None, settled: bool, depths: dict[str, int] | None) -> Frame:
        now = time.time()
        if self.scrolling:
            window, start, title = self.window_s, None, f"{self.title} last {self.window_s:g} s"
        snap = self.events.snapshot(now, since=now - self.window_s if self.scrolling else self.since)
        if not self.scrolling:  # a run: from its first submit, over the expected time, stretched if it runs longer
            start = min((t.sent or t.received or now for t in snap.tasks), default=now)
            if settled:
                end = max((r.ended or now for t in snap.tasks for r in t.runs), default=now)
                window = end - start if end > start else self.window_s
                title = f"{self.title} {end - start:.1f} s"
            else:
                elapsed = now - start
                window, title = max(self.window_s, elapsed * 1.25), f"{self.title} {elapsed:.1f} s"
        view = lanes(snap, now, window, width, start=start, max_lanes=max_lanes)
        self.drawn = snap
        return Frame(view, title, depths, self.events.connected, self.events.error)

    def start(self) -> None:
        """Follow the events (waiting for the first connection, so no early event is missed), then for the
        expected workers' lanes."""
        self.events.start(wait_s=current().broker_timeout)
        self.wait_for_lanes()

    def wait_for_lanes(self, timeout_s: float = FIRST_FRAME_WAIT_S) -> None:
        """Until every expected worker was heard of (its heartbeat answers the receiver's wake-up at
        once), at most `timeout_s`: a first frame with 2 of 4 lanes reads as 2 workers."""
        deadline = time.monotonic() + timeout_s
        while (self.events.connected and len(self.events.workers()) < self.expected_workers
               and time.monotonic() < deadline):
            time.sleep(0.02)

    def stop(self, wait_s: float = 3.0) -> None:
        """Stop following the events, waiting up to `wait_s` for their thread (it notices within a second)."""
        self.events.stop(timeout_s=wait_s)


class LiveCluster(Following):
    """Follow the events and redraw on `console` at REFRESH_PER_S, with rich's Live."""

    def __init__(self, app: Celery, console: Console, queues: tuple[str, ...], window_s: float,
                 scrolling: bool, title: str, transient: bool = False, expected_workers: int = 0) -> None:
        super().__init__(app, queues, window_s, scrolling, title, expected_workers)
        self.console = console
        # redrawn by frame_ticks' schedule (`_redraw`), not by rich's own thread
        self.live = Live(get_renderable=self.frame, console=console, auto_refresh=False,
                         transient=transient, redirect_stdout=False, redirect_stderr=False)
        self._stop_redraw = threading.Event()
        self._redrawing = threading.Thread(target=self._redraw, name="live-frames", daemon=True)

    def frame(self) -> Group:
        """One frame as of now, sized to the console (any file, no terminal needed)."""
        width, height = self.console.size
        frame = self.facts(width - 1, max_lanes=max(1, height - 5))
        with self.events.paused():  # its texts in one go too; rich writes them to the terminal after, unpaused
            return draw(frame)

    def _redraw(self) -> None:
        for _ in frame_ticks(self._stop_redraw):
            self.live.refresh()

    def __enter__(self) -> LiveCluster:
        self.start()
        self.live.start()
        self._redrawing.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._stop_redraw.set()
            self._redrawing.join()
            self.live.stop()
        finally:
            self.stop()

def expected_run_s(jobs: int, slots: int, duration_s: float) -> float:
    """The window a run starts with: its ideal time plus a little, so bars fill most of the width."""
    return max(2.0, math.ceil(jobs / max(1, slots)) * duration_s * 1.15 + 0.5)

@contextmanager
def followed_run(app: Celery, console: Console, queue: str, jobs: int, slots: int, duration_s: float, *,
                 live: bool, events: bool, workers: int = 0) -> Iterator[ClusterEvents | None]:
    """A run's events followed while it runs: drawn live (transient: the report follows) when `live`,
    else followed quietly when `events` (for the pictures, producer.story). Yields the follower, or None."""
    if live:
        with LiveCluster(app, console, (queue,), expected_run_s(jobs, slots, duration_s), scrolling=False,
                         title="run", transient=True, expected_workers=workers) as view:
            yield view.events
    elif events:  # nothing drawn, so nothing limits the tasks remembered but the run's own size
        follower = ClusterEvents(app, EventState(max_tasks_in_memory=max(MAX_TASKS, 2 * jobs)))
        follower.start(wait_s=current().broker_timeout)  # as the live view: no early event missed
        try:
            yield follower
        finally:
            follower.stop()
    else:
        yield None

@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM, so `watch` ends cleanly (exit 0) instead of with a traceback."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def watch(seconds: float, queues: tuple[str, ...]) -> int:
    """`producer watch`: the whole cluster live, anyone's jobs: a lane per worker slot, queue depths,
    workers coming and going, until Ctrl-C (off a terminal: one frame after `seconds`).
    Workers must send events (-E, as compose and the tests run them).
    """
    console = Console()
    if not console.is_terminal:
        return watch_once(console, queues or (current().queue,), seconds)
    expected = len(default_app.control.ping(timeout=0.5) or [])  # who is up: the first frame shows them all
    with stop_on_signals() as stop, LiveCluster(default_app, console, queues or (current().queue,), seconds,
                                                scrolling=True, title="watch", expected_workers=expected):
        while not stop.wait(0.25):
            pass
    return RET_OK


def watch_once(console: Console, queues: tuple[str, ...], seconds: float) -> int:
    """Off a terminal (piped, a log): follow the cluster for `seconds`, print one frame, exit.

    Nothing can be redrawn in a pipe, and a pipe's reader waits for an end; Redis is asked
    first, so a stopped one is one line and exit 3 within BROKER_TIMEOUT, not a silent wait.
    """
    check_brokers(default_app, current().broker_timeout)
    print(f"not a terminal: following the cluster for {seconds:g} s, then printing it once "
          "(a terminal shows it live)", file=sys.stderr)
    view = LiveCluster(default_app, console, queues, seconds, scrolling=True, title="watch")  # drawn once, at the end
    view.events.start(wait_s=current().broker_timeout)
    try:
        with stop_on_signals() as stop:
            stop.wait(seconds)
        console.print(view.frame())
        connected, error = view.events.connected, view.events.error
    finally:
        view.events.stop()
    if not connected:
        raise BrokerUnreachable(f"lost Redis at {masked(default_app.conf.broker_url)} while watching: "
                                f"{error or 'no answer'}")
    return RET_OK
