"""The live view under load: `watch`'s own code in a process of its own, its lag and CPU measured.

`python -m benchmarks.view` is started by `ViewProcess`, not by hand. It runs
`producer.views.live.LiveCluster` as `python -m producer watch` does (rich's Live, 4 frames a
second, the last 30 s, the queue's depth), on an 80 x 24 terminal that writes to /dev/null; or,
with `--renderer notebook`, the notebook's `watch()` cell (issue #34: the same frames, each drawn
as the picture and its text its display handle sends, 4 a second, to no front end). It records:

- for every event, in arrival order, when it arrived (`local_received`, the receiver's clock)
  and when it was sent (its `timestamp`, the sender's clock: the same clock on one host);
- for every frame, how many events its snapshot held (Celery's State counts them in arrival
  order), when its drawing ended, how long the frame took (snapshot, layout, drawing) and
  how much CPU its thread used meanwhile (the rest of that time it waited: for a core, or
  for the GIL while the events thread decoded).

An event is drawn by the first frame whose snapshot held it; its lag is the time from its
arrival (or from its sending) to the end of that frame (`first_drawn`, pure). A process of
its own, so its CPU is the view's alone: the thread that decodes every event of the cluster,
and the frames. It says `ready` on stdout once events flow, and stops when its stdin closes
(the benchmark is done, or died), or after `--max-seconds`, then prints what it recorded as
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

from rich.console import Console

from benchmarks.clusters import ROOT
from benchmarks.stats import percentile
from devcluster.local_cluster import make_app
from producer.views.live import Following, LiveCluster, frame_ticks
from producer.views.notebook import drawn, followed

WIDTH, HEIGHT = 80, 24  # the terminal docs/producer.md's pictures are drawn for
WINDOW_S = 30.0  # watch's default --seconds
QUEUE = "jobs"
READY_TIMEOUT_S = 60.0  # start-up: imports, then the first connection (BROKER_TIMEOUT)
DRAIN_TIMEOUT_S = 2.0  # on stop: time for one more frame to draw what arrived before
TERMINAL, NOTEBOOK = "terminal", "notebook"  # the two renderings of the same frames


# --- the pure part: when each event was drawn, and the figures -----------------------------


def first_drawn(events: int, frames: Sequence[tuple[int, float]]) -> list[float | None]:
    """When each of `events` events (arrival order) was first drawn: the end of the first frame holding it.

    `frames` are (events its snapshot held, drawing ended at), in drawing order; the counts
    never fall, since the State counts every event as it applies it. Events no frame held
    get None.
    """
    drawn: list[float | None] = [None] * events
    done = 0
    for held, ended_at in frames:
        held = min(held, events)
        for i in range(done, held):
            drawn[i] = ended_at
        done = max(done, held)
    return drawn


def spread_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """p50 / p99 / max of durations, in milliseconds (None when there are none)."""
    if not seconds:
        return {"p50": None, "p99": None, "max": None}
    return {"p50": percentile(list(seconds), 50) * 1e3, "p99": percentile(list(seconds), 99) * 1e3,
            "max": max(seconds) * 1e3}


def view_figures(record: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """Lag, frame times and rates of the view during the load [start, end] (epoch seconds, this host's clock).

    Lags cover every event that arrived from `start` on, the load's last events included
    (they may arrive after its last result, i.e. after `end`); rates count [start, end].
    """
    received, sent, frames = record["received"], record["sent"], record["frames"]
    types = record.get("types") or ["?"] * len(received)
    drawn = first_drawn(len(received), [(held, ended) for held, ended, *_ in frames])
    load = [i for i, at in enumerate(received) if at >= start]
    by_arrival = [d - received[i] for i in load if (d := drawn[i]) is not None]
    stamped = [i for i in load if sent[i] is not None and math.isfinite(sent[i])]
    by_sender = [d - sent[i] for i in stamped if (d := drawn[i]) is not None]
    during = [(took, cpu) for _, ended, took, cpu in frames if start <= ended <= end]
    # the first bar: the load's first job started (its task-started event sent) -> the frame that drew it
    starts = [i for i in stamped if types[i] == "task-started"]
    first = min(starts, key=lambda i: sent[i], default=None)
    first_bar = drawn[first] if first is not None else None
    span = max(end - start, 1e-9)
    return {
        "lag_received_ms": spread_ms(by_arrival),
        "lag_sent_ms": spread_ms(by_sender),
        # sent -> received: an events thread that falls behind shows here (the socket holds what it has not read)
        "delivery_ms": spread_ms([received[i] - sent[i] for i in stamped]),
        "delivery_ms_by_type": {kind: spread_ms([received[i] - sent[i] for i in stamped if types[i] == kind])
                                for kind in sorted({types[i] for i in stamped})},
        "frame_ms": spread_ms([took for took, _ in during]),
        "frame_cpu_ms": spread_ms([cpu for _, cpu in during]),
        "frames_per_s": len(during) / span,
        "events_per_s": sum(start <= at <= end for at in received) / span,
        "first_bar_ms": None if first_bar is None else (first_bar - sent[first]) * 1e3,
        "events": len(load),
        "undrawn": sum(drawn[i] is None for i in load),
    }


# --- the child: the view itself ------------------------------------------------------------


def _stop_requested(deadline: float) -> None:
    """Wait until stdin closes (or says anything), or the deadline passes."""
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sys.stdin], [], [], min(left, 1.0))
        if readable:
            return


def run_view(max_seconds: float, renderer: str = TERMINAL) -> dict[str, Any]:
    """Run the view as `watch` does until told to stop; what it drew and when.

    `renderer`: TERMINAL is `python -m producer watch` (rich's Live on an 80 x 24 terminal);
    NOTEBOOK is the notebook's `watch()` cell (producer.views.notebook: each frame the picture
    and its text, as its display handle sends them, to no front end).
    """
    app = make_app(os.environ["BROKER_URL"], os.environ["RESULT_BACKEND"])
    received: list[float] = []
    sent: list[float | None] = []
    types: list[str] = []
    frames: list[tuple[int, float, float, float]] = []  # (events held, drawing ended at, seconds, CPU seconds)

    def on_event(event: dict[str, Any]) -> None:
        received.append(event.get("local_received") or time.time())
        sent.append(event.get("timestamp"))
        types.append(event.get("type", "?"))

    def timed(draw: Callable[[], object], following: Following) -> Callable[[], None]:
        def frame() -> None:
            started, cpu = time.perf_counter(), time.thread_time()
            draw()
            if following.drawn is not None:
                frames.append((following.drawn.events, time.time(), time.perf_counter() - started,
                               time.thread_time() - cpu))
        return frame

    with ExitStack() as stack:
        stack.callback(app.close)
        if renderer == TERMINAL:
            screen = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115
            console = Console(file=screen, force_terminal=True, width=WIDTH, height=HEIGHT, color_system="truecolor")
            view = LiveCluster(app, console, (QUEUE,), WINDOW_S, scrolling=True, title="watch")
            following: Following = view
            view.live.refresh = timed(view.live.refresh, view)  # type: ignore[method-assign]  (Live's thread calls it)
            following.events.on_event = on_event
            stack.enter_context(view)
        else:
            following = Following(app, (QUEUE,), WINDOW_S, scrolling=True, title="watch")
            following.events.on_event = on_event
            stack.enter_context(followed(following))
            stack.enter_context(Refreshed(timed(lambda: drawn(following, whole_text=False), following)))
        if not following.events.connected:
            raise SystemExit(f"events do not flow: {following.events.error}")
        print("ready", flush=True)
        _stop_requested(time.monotonic() + max_seconds)
        asked = following.events.state.event_count
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while (not frames or frames[-1][0] < asked) and time.monotonic() < deadline:
            time.sleep(0.02)
    return {"received": received, "sent": sent, "types": types, "frames": frames, "events_at_stop": asked}


class Refreshed:
    """`frame` called on `frame_ticks`' schedule from a thread of its own while the block runs: the
    notebook's display thread (producer.views.notebook.Drawn) without a front end to send to."""

    def __init__(self, frame: Callable[[], None]) -> None:
        self.frame = frame
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notebook-lanes", daemon=True)

    def _run(self) -> None:
        for _ in frame_ticks(self._stop):
            self.frame()

    def __enter__(self) -> Refreshed:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- the parent's handle on the child ------------------------------------------------------


class ViewProcess:
    """The view in a child process for one measurement: ready on enter, always gone on exit.

    `finish()` closes its stdin (its cue to stop) and returns what it recorded. If the
    benchmark is interrupted, the child is killed on exit; if the benchmark dies, the
    child's stdin closes and it stops by itself, as it does after `max_seconds`.
    """

    def __init__(self, broker_url: str, result_backend: str, max_seconds: float, renderer: str = TERMINAL) -> None:
        self.env = {**os.environ, "BROKER_URL": broker_url, "RESULT_BACKEND": result_backend}
        self.max_seconds = max_seconds
        self.renderer = renderer
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr = tempfile.TemporaryFile()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> ViewProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.view", "--max-seconds", str(self.max_seconds),
                                      "--renderer", self.renderer],
                                     cwd=ROOT, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        try:
            line = self._read_line(READY_TIMEOUT_S)
            if line.strip() != b"ready":
                raise RuntimeError(f"the view did not start: {self._stderr_tail()}")
        except BaseException:
            self.__exit__()
            raise
        return self

    def _read_line(self, timeout_s: float) -> bytes:
        """One line of the child's stdout, read unbuffered (communicate() reads the rest later)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd, line, deadline = self.proc.stdout.fileno(), b"", time.monotonic() + timeout_s
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise RuntimeError(f"the view did not say ready within {timeout_s:g} s: {self._stderr_tail()}")
            chunk = os.read(fd, 1)
            if not chunk:
                break
            line += chunk
        return line

    def _stderr_tail(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def finish(self, timeout_s: float = 30) -> dict[str, Any]:
        """Tell the view to stop; what it recorded."""
        assert self.proc is not None
        out, _ = self.proc.communicate(timeout=timeout_s)  # closing its stdin is the cue
        if self.proc.returncode != 0:
            raise RuntimeError(f"the view exited with {self.proc.returncode}: {self._stderr_tail()}")
        return json.loads(out.splitlines()[-1])

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.stderr.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.view", description=__doc__.splitlines()[0])
    parser.add_argument("--max-seconds", type=float, default=300.0, help="Stop by itself after this long.")
    parser.add_argument("--renderer", choices=[TERMINAL, NOTEBOOK], default=TERMINAL,
                        help="watch on a terminal, or the notebook's watch() cell")
    args = parser.parse_args(argv)
    record = run_view(args.max_seconds, args.renderer)
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
