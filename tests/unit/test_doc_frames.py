"""The live frames in docs/producer.md are what the code draws: each is replayed from made-up events.

Each run the prose describes is told as Celery events (builders.Cluster), then drawn by the real
`LiveCluster.frame` (window, lanes, header, draw) on an 80 x 24 console, at a made-up `now`, with
the queue's depth given instead of read from Redis. A change to the layout fails here, with the
frame to paste into the doc.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from rich.console import Console

from producer.views import live
from producer.views.axis import FAILED
from producer.views.live import LiveCluster, expected_run_s
from tests.helpers import ROOT
from tests.unit.builders import EVENTS_T0, Cluster, doc_block

DOC = ROOT / "docs" / "producer.md"
WIDTH, HEIGHT = 80, 24  # the terminal the doc names
PID = 1  # events carry the worker's main process: celery itself, pid 1 in its container (exec-form CMD)
# compose's 4 worker containers, in the order they take the jobs off the queue
WORKERS = ("worker@f6fea622c933", "worker@8010b69fefdf", "worker@01645689fc64", "worker@223cb1ae4907")


def drawn(monkeypatch: pytest.MonkeyPatch, cluster: Cluster, now: float, queued: int, window_s: float,
          scrolling: bool, title: str) -> str:
    """The frame `LiveCluster.frame` draws from the cluster's events at `now`, as plain text."""
    console = Console(width=WIDTH, height=HEIGHT, file=io.StringIO(), color_system=None)
    view = LiveCluster(live.default_app, console, ("jobs",), window_s, scrolling=scrolling, title=title)
    view.events.state, view.events.connected = cluster.state, True  # nothing started: no thread, no Redis
    monkeypatch.setattr(view.depth, "read", lambda: {"jobs": queued})
    monkeypatch.setattr(live, "time", SimpleNamespace(time=lambda: EVENTS_T0 + now))
    console.print(view.frame())
    # a blank at a line's end shows as nothing on a terminal, and editors strip it from the doc
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


def batch(cluster: Cluster, prefix: str, sent: float, jobs: int, duration_s: float) -> list[tuple[str, str]]:
    """`producer --jobs N` submitting: N jobs sent 1 ms apart, task1 and task2 in turn; (id, name) of each."""
    ids = [(f"{prefix}{i}", f"task{i % 2 + 1}") for i in range(jobs)]
    for i, (task_id, name) in enumerate(ids):
        cluster.sent(task_id, sent + 0.001 * i, name=name)
    return ids


def heartbeats(cluster: Cluster, since: float, until: float, silent_from: dict[str, float] | None = None) -> None:
    """Every worker's heartbeat every 2 s (Celery's), a little apart, until it goes silent."""
    for k, node in enumerate(WORKERS):
        beat = since + 0.1 * k
        while beat < min(until, (silent_from or {}).get(node, until)):
            cluster.heartbeat(node, beat, pid=PID)
            beat += 2.0


def assert_as_documented(frame: str, first: str) -> None:
    assert frame == doc_block(DOC, first), (
        f"docs/producer.md's frame starting {first!r} is no longer what the code draws; "
        f"replace it with:\n{frame}")


def test_the_run_frame_is_what_8_jobs_on_4_workers_draw_1_5_s_in(monkeypatch):
    c = Cluster()
    heartbeats(c, -1.2, 1.5)
    jobs = batch(c, "j", 0.0, 8, 1.0)
    for i, (task_id, name) in enumerate(jobs):  # two waves; the second still running at 1.5 s
        start = 0.012 + 0.002 * (i % 4) + i // 4 * 1.004
        c.runs(task_id, WORKERS[i % 4], start, start + 1.001 if i < 4 else None, pid=PID, name=name)
    frame = drawn(monkeypatch, c, 1.5, 0, expected_run_s(8, 4, 1.0), scrolling=False, title="run")
    assert frame.startswith("run 1.5 s  queue jobs 0  waiting 0  running 4  done 4")
    assert_as_documented(frame, "run 1.5 s")


def test_the_watch_frame_is_what_a_killed_worker_draws_before_its_job_comes_back(monkeypatch):
    """`watch --seconds 20`: an earlier `--jobs 8` run, then `--jobs 8 --duration 4`, whose first job's
    worker is killed 2.5 s in; 4.5 s later it is dead (heartbeats stopped) and the recovery service
    (4-8 s) has not put its job back yet. The live workers run the second wave; the 8th job waits."""
    now, run_at, killed_at = 30.0, 23.0, 25.5
    killed = WORKERS[0]
    c = Cluster()
    heartbeats(c, 9.2, now, silent_from={killed: killed_at})
    for i, (task_id, name) in enumerate(batch(c, "a", 13.5, 8, 1.0)):
        start = 13.512 + 0.002 * (i % 4) + i // 4 * 1.004
        c.runs(task_id, WORKERS[i % 4], start, start + 1.001, pid=PID, name=name)
    jobs = batch(c, "b", run_at, 8, 4.0)
    for i, (task_id, name) in enumerate(jobs[:4]):  # the first wave: the killed worker's job never ends
        start = run_at + 0.012 + 0.002 * i
        c.runs(task_id, WORKERS[i], start, None if WORKERS[i] == killed else start + 4.001, pid=PID, name=name)
    for (task_id, name), node in zip(jobs[4:7], WORKERS[1:], strict=True):  # the second wave, one job short
        c.runs(task_id, node, run_at + 4.02, pid=PID, name=name)
    frame = drawn(monkeypatch, c, now, 1, 20, scrolling=True, title="watch")
    (lost,) = [line for line in frame.splitlines() if line.startswith(killed.partition("@")[2])]
    assert lost.startswith("f6fea622c933 dead") and lost.endswith(FAILED)  # its job cut short, not back yet
    assert frame.startswith("watch last 20 s  queue jobs 1  waiting 1  running 3  done 11")
    assert_as_documented(frame, "watch last 20 s")
