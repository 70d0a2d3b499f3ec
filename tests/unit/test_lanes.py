"""Events -> State -> Snapshot -> lanes, from synthetic Celery events: no Redis, no workers, no clock."""

from __future__ import annotations

import itertools

import pytest

from producer.events import EventState, snapshot
from producer.lanes import BAR, FAILED, REDELIVERED, RETRIED, fit, lanes, short_names, tick_marks

T0 = 1_700_000_000.0  # every timestamp is T0 + seconds
_clock = itertools.count(1)


class Cluster:
    """Feeds a Celery State with the events a real cluster would send."""

    def __init__(self) -> None:
        self.state = EventState()

    def event(self, type_: str, at: float, hostname: str, **fields) -> None:
        self.state.event({"type": type_, "hostname": hostname, "timestamp": T0 + at, "local_received": T0 + at,
                          "clock": next(_clock), "utcoffset": 0, **fields})

    def heartbeat(self, node: str, at: float, pid: int = 100, active: int = 0) -> None:
        self.event("worker-heartbeat", at, node, pid=pid, freq=2.0, active=active, processed=0)

    def sent(self, task_id: str, at: float, name: str = "task1") -> None:
        self.event("task-sent", at, "producer@here", uuid=task_id, name=name, pid=1)

    def runs(self, task_id: str, node: str, start: float, end: float | None = None, pid: int = 100,
             name: str = "task1", outcome: str = "succeeded") -> None:
        """A job received and started on `node` at `start`, ending with `outcome` at `end` (None: still running)."""
        self.event("task-received", start, node, uuid=task_id, name=name, pid=pid, retries=0)
        self.event("task-started", start, node, uuid=task_id, pid=pid)
        if end is not None:
            self.event(f"task-{outcome}", end, node, uuid=task_id, pid=pid)

    def view(self, now: float, window_s: float = 10.0, width: int = 80, start: float | None = 0.0, **kw):
        return lanes(snapshot(self.state, T0 + now), T0 + now, window_s, width,
                     start=None if start is None else T0 + start, **kw)


def bar_length(lane, width: int) -> int:
    return sum(ch != " " for ch in lane.text(width))


def test_overlapping_jobs_on_two_workers_get_a_lane_each_and_grow_while_running():
    c = Cluster()
    for node in ("w1@h", "w2@h"):
        c.heartbeat(node, 0)
    c.sent("a", 0.0)
    c.sent("b", 0.0)
    c.runs("a", "w1@h", 0.0)
    c.runs("b", "w2@h", 0.1)
    c.heartbeat("w1@h", 1.5)
    c.heartbeat("w2@h", 1.5)
    early, later = c.view(1.0), c.view(2.0)
    assert [lane.label for lane in early.lanes] == ["w1", "w2"]
    assert early.running == 2 and early.waiting == 0
    for before, after in zip(early.lanes, later.lanes, strict=True):
        assert bar_length(after, later.columns) > bar_length(before, early.columns) > 0
        assert before.segments[0].kind == "running" and before.segments[0].text.startswith("task1")


def test_a_finished_job_keeps_its_length_and_the_next_one_follows_on_the_same_lane():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.runs("a", "w1@h", 0.0, 2.0)
    c.runs("b", "w1@h", 2.0, None, name="task2")
    c.heartbeat("w1@h", 2.5)
    view = c.view(3.0)
    (lane,) = view.lanes
    first, second = lane.segments
    assert (first.kind, second.kind) == ("succeeded", "running")
    assert first.end == second.start  # back to back, no overprint
    assert first.end - first.start == pytest.approx(2 / 10 * view.columns, abs=1)
    assert second.text.startswith("task2") and view.succeeded == 1 and view.running == 1


def test_jobs_running_at_once_in_one_thread_pool_process_get_sub_lanes_that_never_overprint():
    c = Cluster()
    c.heartbeat("th@h", 0, pid=7)
    for i, start in enumerate((0.0, 0.1, 0.2)):
        c.runs(f"t{i}", "th@h", start, 2.0 + i, pid=7)  # three at once, ending at 2, 3, 4
    c.runs("t3", "th@h", 2.5, 3.5, pid=7)  # starts after t0 ended: reuses the first free sub-lane
    c.heartbeat("th@h", 4.5, pid=7)
    view = c.view(5.0)
    assert [(lane.pid, lane.sub) for lane in view.lanes] == [(7, 0), (7, 1), (7, 2)]
    assert [lane.label for lane in view.lanes] == ["th@h", "th@h/2", "th@h/3"]
    assert [seg.task_id for seg in view.lanes[0].segments] == ["t0", "t3"]
    for lane in view.lanes:
        cols = [c for seg in lane.segments for c in range(seg.start, seg.end)]
        assert len(cols) == len(set(cols))  # no two bars share a column in one lane


def test_a_worker_lost_mid_job_is_marked_dead_and_its_job_comes_back_redelivered_on_another_lane():
    c = Cluster()
    c.heartbeat("w1@h", 0, pid=11)
    c.heartbeat("w2@h", 0, pid=22)
    c.runs("job", "w1@h", 0.5, pid=11)
    c.heartbeat("w1@h", 2.0, pid=11)  # its last sign of life: SIGKILL
    for t in (2.0, 4.0, 6.0, 8.0):
        c.heartbeat("w2@h", t, pid=22)
    before = c.view(3.0)
    assert before.lanes[0].status == "alive" and before.lanes[0].segments[0].kind == "running"

    c.event("task-received", 8.0, "w2@h", uuid="job", name="task1", pid=22)  # visibility timeout passed
    c.event("task-started", 8.0, "w2@h", uuid="job", pid=22)
    view = c.view(9.0)
    dead, alive = view.lanes
    assert dead.status == "dead" and dead.label.endswith("dead") and alive.status == "alive"
    lost = dead.segments[0]
    assert lost.kind == "lost" and lost.text.endswith(FAILED)
    assert lost.end == int(2.0 / 10 * view.columns)  # drawn up to its last heartbeat, not to now
    again = alive.segments[0]
    assert again.task_id == "job" and again.kind == "running" and again.text.startswith(REDELIVERED)
    assert view.redelivered == 1 and view.workers_dead == 1 and view.workers_alive == 1


def test_a_worker_restarted_under_the_same_name_gets_a_lane_per_process_labelled_by_pid():
    c = Cluster()
    c.heartbeat("w1@h", 0, pid=5)
    c.runs("a", "w1@h", 0.0, 1.0, pid=5)
    c.heartbeat("w1@h", 3.0, pid=6)
    c.runs("b", "w1@h", 3.0, pid=6)
    view = c.view(4.0)
    assert [lane.label for lane in view.lanes] == ["w1@h 5", "w1@h 6"]


def test_a_killed_worker_without_redelivery_yet_still_shows_its_job_as_lost():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.runs("job", "w1@h", 0.5)
    view = c.view(9.0)  # no heartbeat for 9 s: beyond Celery's 2 x 2 s expiry
    (lane,) = view.lanes
    assert lane.status == "dead" and lane.segments[0].kind == "lost"
    assert c.state.workers["w1@h"].heartbeats  # Celery's own State agrees it is merely silent
    assert snapshot(c.state, T0 + 9).silent_workers(T0 + 9, after_s=5)[0].name == "w1@h"
    assert [t.id for t in snapshot(c.state, T0 + 9).unfinished_on("w1@h")] == ["job"]


def test_failed_and_retried_jobs_are_marked():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.runs("bad", "w1@h", 0.0, 1.0, outcome="failed")
    c.runs("flaky", "w1@h", 1.0, 2.0, outcome="retried", name="task2")
    c.runs("flaky", "w1@h", 3.0, 4.0, name="task2")
    c.heartbeat("w1@h", 4.0)
    view = c.view(4.5)
    kinds = [seg.kind for seg in view.lanes[0].segments]
    assert kinds == ["failed", "retried", "succeeded"]
    failed, retried, done = view.lanes[0].segments
    assert failed.text.endswith(FAILED) and retried.text.endswith(RETRIED) and not done.text.startswith(REDELIVERED)
    assert view.failed == 1 and view.retried == 1 and view.redelivered == 0 and view.succeeded == 1


def test_jobs_sent_but_not_started_count_as_waiting():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    for i in range(3):
        c.sent(f"q{i}", 0.0)
    c.runs("q0", "w1@h", 0.1)
    view = c.view(0.5)
    assert view.waiting == 2 and view.running == 1


def test_the_watch_window_scrolls_and_forgets_workers_that_left_before_it():
    c = Cluster()
    c.heartbeat("old@h", 0)
    c.runs("early", "old@h", 0.0, 1.0)
    c.event("worker-offline", 1.5, "old@h", pid=100, freq=2.0)
    c.heartbeat("new@h", 20.0)
    c.runs("late", "new@h", 25.0, 26.0)
    c.heartbeat("new@h", 29.0)
    view = c.view(30.0, window_s=10.0, start=None)
    assert [lane.node for lane in view.lanes] == ["new@h"]
    seg = view.lanes[0].segments[0]
    assert seg.start == int(5 / 10 * view.columns)  # 25 s is 5 s into the window [20, 30]
    assert view.ticks[-1][1] == "now" and view.ticks[0][1].startswith("-")


def test_a_worker_that_said_goodbye_is_marked_left_not_dead():
    c = Cluster()
    c.heartbeat("old@h", 0)
    c.runs("early", "old@h", 0.0, 1.0)
    c.event("worker-offline", 1.5, "old@h", pid=100, freq=2.0)
    (lane,) = c.view(2.0, window_s=10.0, start=None).lanes
    assert lane.status == "offline" and lane.label.endswith("left") and lane.segments[0].kind == "succeeded"


def test_an_idle_worker_has_an_empty_lane_and_lanes_beyond_the_limit_are_counted():
    c = Cluster()
    for i in range(5):
        c.heartbeat(f"w{i}@h", 0, pid=i)
    c.runs("a", "w4@h", 0.0, pid=4)
    view = c.view(1.0, max_lanes=3)
    assert len(view.lanes) == 3 and view.hidden_lanes == 2
    assert "w4@h" in {lane.node for lane in view.lanes}  # the busy one is kept
    assert all(lane.segments == [] for lane in view.lanes if lane.node != "w4@h")


def test_lanes_fit_80_columns():
    c = Cluster()
    node = "worker@31759002942e0000aaaabbbbcccc"
    c.heartbeat(node, 0, pid=8)
    c.runs("a", node, 0.0, pid=8)
    c.heartbeat(node, 4.5, pid=8)
    view = c.view(5.0, width=80)
    (lane,) = view.lanes
    assert len(lane.label) <= view.label_width and view.label_width + 1 + view.columns <= 80
    assert BAR in lane.text(view.columns)


def test_names_are_shortened_by_what_they_share():
    assert short_names(["it-1@box", "it-2@box"]) == {"it-1@box": "it-1", "it-2@box": "it-2"}
    assert short_names(["worker@a1", "worker@b2"]) == {"worker@a1": "a1", "worker@b2": "b2"}
    assert short_names(["x@a", "y@b"]) == {"x@a": "x@a", "y@b": "y@b"}
    assert fit("worker@31759002942e", 9) == "work…942e" and len(fit("abcdefghij", 5)) == 5


def test_ticks_count_up_for_a_run_and_down_to_now_for_watch():
    assert tick_marks(4.0, 64, relative_to_end=False)[:3] == [(0, "0s"), (8, "0.5s"), (16, "1s")]
    marks = tick_marks(30.0, 60, relative_to_end=True)
    assert marks[-1] == (59, "now") and all(lab.startswith("-") for _, lab in marks[:-1])


def test_a_snapshot_since_a_moment_leaves_out_only_tasks_finished_before_it():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.runs("old", "w1@h", 0.0, 1.0)
    c.runs("stuck", "w1@h", 1.0)  # still running: always kept
    c.runs("new", "w1@h", 20.0, 21.0)
    ids = {t.id for t in snapshot(c.state, T0 + 25, since=T0 + 10).tasks}
    assert ids == {"stuck", "new"}
