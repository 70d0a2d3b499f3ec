"""The live lanes in a notebook (producer.views.notebook): drawn only where a front end shows them.

No kernel here: the kernel's shell and IPython's display are stand-ins, the frames made-up events
(builders.Cluster). The real kernel, its display messages and a real cluster are
tests/integration/test_notebook.py's.
"""

from __future__ import annotations

import builtins
import contextvars
import sys
import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from cluster.errors import UsageError
from producer import api
from producer.views import live, notebook
from producer.views.lanes import Frame
from producer.views.progress import Shown
from tests.unit.builders import EVENTS_T0, Cluster


class KernelShell:
    """Stands for ipykernel's ZMQInteractiveShell: a kernel whose outputs a front end shows."""


class ColabShell(KernelShell):
    """A front end's own subclass of it (Colab's is one)."""


class TerminalShell:
    """Stands for IPython in a terminal: no front end to draw in."""


def as_if(monkeypatch: pytest.MonkeyPatch, shell: object | None, kernel_imported: bool = True) -> None:
    """This process as if IPython ran it with `shell` (None: IPython imported, no shell running)."""
    monkeypatch.setitem(sys.modules, "IPython", SimpleNamespace(get_ipython=lambda: shell))
    if kernel_imported:
        monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", SimpleNamespace(ZMQInteractiveShell=KernelShell))
    else:
        monkeypatch.delitem(sys.modules, "ipykernel.zmqshell", raising=False)


def test_a_plain_python_or_a_test_is_no_front_end():
    assert notebook.front_end() is False


@pytest.mark.parametrize(("shell", "kernel_imported", "shown"), [
    (KernelShell(), True, True), (ColabShell(), True, True),
    (TerminalShell(), True, False), (TerminalShell(), False, False), (None, True, False), (None, False, False)])
def test_only_a_kernel_shell_is_a_front_end(monkeypatch, shell, kernel_imported, shown):
    as_if(monkeypatch, shell, kernel_imported)
    assert notebook.front_end() is shown


def test_without_a_front_end_the_library_follows_nothing_and_prints_nothing(monkeypatch, capsys):
    """run_jobs as a script calls it: no events followed (no thread, no Redis client), the batch as before."""
    given = {}
    monkeypatch.setattr(api, "ready", lambda app, queue: api.Ready(queue, [], 2, 0))
    monkeypatch.setattr(api, "run_on", lambda app, found, jobs, timeout_s, events=None: given.update(events=events))
    monkeypatch.setattr(notebook, "Following", lambda *a, **k: pytest.fail("nothing is followed off a notebook"))
    threads = threading.active_count()
    api.run_jobs(jobs=2, app=object())
    assert given == {"events": None} and threading.active_count() == threads
    assert capsys.readouterr() == ("", "")
    with notebook.parts(object(), "sweep", ("jobs",), 4, 0.5) as shown:  # the sweep's and the quiz's parts
        assert type(shown) is Shown


def test_watch_off_a_notebook_says_where_it_draws_instead_of_waiting_for_nothing():
    with pytest.raises(UsageError, match="python -m producer watch"):
        api.watch(seconds=5)


def test_in_a_notebook_live_false_follows_nothing_either(monkeypatch):
    as_if(monkeypatch, KernelShell())
    given = {}
    monkeypatch.setattr(api, "ready", lambda app, queue: api.Ready(queue, [], 2, 0))
    monkeypatch.setattr(api, "run_on", lambda app, found, jobs, timeout_s, events=None: given.update(events=events))
    monkeypatch.setattr(notebook, "Following", lambda *a, **k: pytest.fail("live=False follows nothing"))
    api.run_jobs(jobs=2, live=False, app=object())
    assert given == {"events": None}


# --- the drawing, with IPython's display stood in for ------------------------------------------------

CELL = contextvars.ContextVar("cell", default="no cell")  # as ipykernel names the cell an output goes to


class Handle:
    """IPython's DisplayHandle, recording each update and the cell it was sent for."""

    def __init__(self, data: dict[str, str]) -> None:
        self.frames = [data]
        self.cells = [CELL.get()]

    def update(self, data: dict[str, str], raw: bool = False) -> None:
        assert raw
        self.frames.append(data)
        self.cells.append(CELL.get())


class Events:
    """Stands for ClusterEvents: a snapshot of no tasks (or `snapshot`'s), and whether the events are paused now."""

    def __init__(self, snapshot=lambda: SimpleNamespace(tasks=())) -> None:
        self.snapshot = snapshot
        self.pausing = False

    @contextmanager
    def paused(self):
        self.pausing = True
        try:
            yield
        finally:
            self.pausing = False


class Followed:
    """Stands for live.Following: a running job's frame at a clock that moves on, a settled one at the end."""

    def __init__(self, cluster: Cluster, scrolling: bool = False) -> None:
        self.cluster = cluster
        self.scrolling = scrolling
        self.begun: list[str] = []
        self.started = self.stopped = False
        self.settled: list[bool] = []
        self.events = Events()
        self.t0 = time.monotonic()

    def start(self) -> None:
        self.started = True

    def stop(self, wait_s: float = 3.0) -> None:
        self.stopped = True

    def begin(self, title: str, window_s: float) -> None:
        self.begun.append(title)

    def facts(self, width: int, max_lanes: int | None = None, settled: bool = False) -> Frame:
        self.settled.append(settled)
        return Frame(self.cluster.view(0.5 + time.monotonic() - self.t0, width=width), "run", {"jobs": 0}, True)


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[Handle]:
    """IPython's display, stood in for: the handles it made."""
    import IPython.display  # the test extra has it (ipykernel)

    handles: list[Handle] = []

    def display(data, raw=False, display_id=False):
        assert raw and display_id is True
        handles.append(Handle(data))
        return handles[-1]

    monkeypatch.setattr(IPython.display, "display", display)
    return handles


def one_running_job() -> Cluster:
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.runs("a", "w1@h", 0.0)
    return c


def test_a_run_is_one_display_updated_a_few_times_a_second_from_its_cell_and_its_last_frame_settled(shown,
                                                                                                   monkeypatch):
    followed = Followed(one_running_job())
    paused_while_drawn = []
    bundle = notebook.bundle
    monkeypatch.setattr(notebook, "bundle", lambda *a, **k: paused_while_drawn.append(followed.events.pausing)
                        or bundle(*a, **k))
    token = CELL.set("cell 8")
    try:
        with notebook.Drawn(followed) as drawn:
            started = time.monotonic()
            while drawn.updates < 3 and time.monotonic() < started + 10:
                time.sleep(0.01)
            elapsed = time.monotonic() - started
    finally:
        CELL.reset(token)
    (handle,) = shown
    assert 3 <= drawn.updates - 1 <= elapsed * live.REFRESH_PER_S + 1  # at its pace, never faster; and the last
    assert len(handle.frames) == drawn.updates + 1 and set(handle.cells) == {"cell 8"}
    assert followed.settled[-1] is True and not any(followed.settled[:-1])
    assert paused_while_drawn and all(paused_while_drawn)  # each picture drawn with the events paused: in one go
    widths = [int(f["text/html"].split('data-columns="')[1].split('"')[0]) for f in handle.frames[:-1]]
    assert widths == sorted(widths) and widths[-1] > widths[0]  # the running bar grew, frame after frame
    first = handle.frames[0]
    assert first["text/html"].startswith('<div class="producer-lanes"><svg')
    assert first["text/plain"].splitlines()[0].startswith("run  queue jobs 0  waiting 0  running 1")
    assert first["text/plain"].splitlines()[1].startswith("w1@h") and "━" in first["text/plain"]
    # the updates between say the headline only as text; the last frame, the one a notebook keeps, says it all
    assert all(f["text/plain"].startswith("run  queue jobs 0  waiting 0  running 1") and "\n" not in f["text/plain"]
               for f in handle.frames[1:-1])
    assert handle.frames[-1]["text/plain"].splitlines()[1].startswith("w1@h") and "━" in handle.frames[-1]["text/plain"]


def test_an_interrupted_run_draws_its_last_frame_at_once_and_stops_following(shown):
    followed = Followed(one_running_job())
    waited = []
    followed.events = Events(snapshot=lambda: waited.append(1) or SimpleNamespace(tasks=()))
    with pytest.raises(KeyboardInterrupt), notebook.Drawn(followed):
        raise KeyboardInterrupt
    assert not waited and len(shown[0].frames) == 2 and followed.settled == [False, True]


def test_a_run_waits_briefly_for_its_last_jobs_events_before_its_last_frame(shown, monkeypatch):
    followed = Followed(one_running_job())
    unfinished = SimpleNamespace(tasks=(SimpleNamespace(state="STARTED"),))
    calls = []
    followed.events = Events(snapshot=lambda: calls.append(1) or unfinished)
    monkeypatch.setattr(notebook, "SETTLE_S", 0.2)
    started = time.monotonic()
    with notebook.Drawn(followed):
        pass
    # asked again until its deadline (SETTLE_S), then drew: bounded, with room for a busy machine's scheduling
    assert 0.2 <= time.monotonic() - started < 3.0 and len(calls) > 1


def test_watch_ends_quietly_on_the_kernels_interrupt_with_its_last_frame(shown, monkeypatch):
    followed = Followed(one_running_job(), scrolling=True)
    monkeypatch.setattr(notebook, "Following", lambda *a, **k: followed)
    app = SimpleNamespace(control=SimpleNamespace(ping=lambda timeout: [{"w1@h": "pong"}]))

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt  # what ipykernel raises in the main thread on ■

    monkeypatch.setattr(notebook.time, "sleep", interrupted)
    notebook.watch(app, ("jobs",), 20.0)  # returns: no KeyboardInterrupt out of it
    assert followed.stopped and followed.settled[-1] is False and len(shown[0].frames) >= 2


def test_the_parts_of_a_sweep_share_one_follower_and_are_a_picture_each(shown, monkeypatch):
    as_if(monkeypatch, KernelShell())
    made = []

    def following(app, queues, window_s, scrolling, title, expected_workers=0):
        made.append((queues, expected_workers))
        return Followed(one_running_job())

    monkeypatch.setattr(notebook, "Following", following)
    with notebook.parts(object(), "sweep", ("jobs",), 4, 0.5, workers=4) as parts:
        for label in ("1 of 2 workers", "2 of 2 workers"):
            with parts.part(label, 8):
                pass
    (followed,) = [parts.following]
    assert made == [(("jobs",), 4)] and followed.started and followed.stopped
    assert followed.begun == ["sweep: 1 of 2 workers", "sweep: 2 of 2 workers"] and len(shown) == 2


def test_a_follower_begun_again_frames_only_the_jobs_since(monkeypatch):
    """A sweep's second step: the first step's jobs are done, and left out of its window and counts."""
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.sent("a", 0.0)
    c.runs("a", "w1@h", 0.0, 1.0)
    c.heartbeat("w1@h", 2.0)
    following = live.Following(live.default_app, ("jobs",), 2.0, scrolling=False, title="sweep")
    following.events.state = c.state  # nothing started: no thread, no Redis
    monkeypatch.setattr(following.depth, "read", lambda: {"jobs": 0})
    clock = SimpleNamespace(time=lambda: EVENTS_T0 + 1.5)
    monkeypatch.setattr(live, "time", clock)
    assert following.facts(120).view.succeeded == 1
    following.begin("sweep: 2 of 2 workers", 2.0)
    c.sent("b", 2.0)
    c.runs("b", "w1@h", 2.0, 3.0, name="task2")
    clock.time = lambda: EVENTS_T0 + 3.5
    frame = following.facts(120, settled=True)
    assert frame.view.succeeded == 1 and frame.title == "sweep: 2 of 2 workers 1.0 s"
    assert [seg.task_id for lane in frame.view.lanes for seg in lane.segments] == ["b"]


def test_a_frames_text_is_written_into_its_bundle_not_displayed_by_rich_in_a_kernel(shown, monkeypatch):
    """rich prints into a kernel's output by itself when it sees one (its own test: a ZMQInteractiveShell)."""
    ZMQInteractiveShell = type("ZMQInteractiveShell", (), {})  # noqa: N806  (the class name is what rich reads)
    monkeypatch.setattr(builtins, "get_ipython", ZMQInteractiveShell, raising=False)
    data = notebook.bundle(Frame(one_running_job().view(1.0, width=notebook.COLUMNS), "run", {"jobs": 0}, True))
    assert not shown and data["text/plain"].splitlines()[1].startswith("w1@h")
