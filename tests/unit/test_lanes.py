"""Events -> State -> Snapshot -> lanes, from synthetic Celery events: no Redis, no workers, no clock."""

from __future__ import annotations

import threading

import pytest

from cluster.events import Attempt, Snapshot, TaskFacts, WorkerFacts, snapshot
from producer.views.axis import BAR, FAILED, Axis
from producer.views.lanes import REDELIVERED, RETRIED, Frame, Lane, Segment, fit, lanes, short_names
from tests.unit.builders import EVENTS_T0 as T0
from tests.unit.builders import Cluster


def worker(name: str, beat: float | None = 0.0, pid: int | None = 100, alive: bool = True,
           offline: bool = False) -> WorkerFacts:
    """A worker as a Snapshot states it (times in plain seconds: these snapshots need no Celery State)."""
    return WorkerFacts(name, name.partition("@")[2] or name, pid, alive, offline, beat, None, 0, 0)


def task(task_id: str, *runs: Attempt, name: str | None = "task1", state: str = "STARTED") -> TaskFacts:
    last = runs[-1] if runs else None
    return TaskFacts(task_id, name, state, last and last.node, last and last.pid, None, None,
                     last and last.started, None, None, 0, runs)


def snap(workers=(), tasks=()) -> Snapshot:
    return Snapshot(0.0, tuple(workers), tuple(tasks), 0)


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
    c = Cluster()
    c.heartbeat("w1@h", 0)
    run = c.view(2.0, window_s=4.0, width=77)  # 12 + 1 + 64 columns
    assert run.columns == 64 and run.ticks == Axis(0.0, 4.0, 64).ticks()
    assert run.ticks[:3] == [(0, "0s"), (8, "0.5s"), (16, "1s")] and run.ticks[-1] == (63, "4s")
    watch = c.view(30.0, window_s=30.0, width=73, start=None)  # 60 columns
    assert watch.ticks == Axis(0.0, 30.0, 60).ticks(relative_to_end=True)
    assert watch.ticks[0] == (0, "-30s") and watch.ticks[-1] == (59, "now")


def test_a_snapshot_since_a_moment_leaves_out_only_tasks_finished_before_it():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.runs("old", "w1@h", 0.0, 1.0)
    c.runs("stuck", "w1@h", 1.0)  # still running: always kept
    c.runs("new", "w1@h", 20.0, 21.0)
    ids = {t.id for t in snapshot(c.state, T0 + 25, since=T0 + 10).tasks}
    assert ids == {"stuck", "new"}



def replay(snapshot_every_event: bool, max_tasks: int) -> tuple:
    """One story of events (runs ending, a redelivery, tasks the State lets go past its limit), its last snapshot."""
    c = Cluster(max_tasks=max_tasks)
    steps = [lambda: c.heartbeat("w1@h", 0), lambda: c.sent("a", 0.0), lambda: c.runs("a", "w1@h", 0.5),
             lambda: c.runs("b", "w1@h", 1.0, 2.0), lambda: c.event("task-succeeded", 3.0, "w1@h", uuid="a", pid=100),
             lambda: c.runs("c", "w1@h", 4.0), lambda: c.runs("c", "w2@h", 9.0, 10.0),  # c lost on w1, again on w2
             lambda: c.runs("d", "w2@h", 11.0, 12.0), lambda: c.heartbeat("w2@h", 12)]
    snaps = []
    for step in steps:
        step()
        if snapshot_every_event:
            snaps.append(snapshot(c.state, T0 + 13))
    return snapshot(c.state, T0 + 13), snapshot(c.state, T0 + 13, since=T0 + 5), snaps, c.state


@pytest.mark.parametrize("max_tasks", [10000, 2])
def test_a_snapshot_rebuilds_only_what_changed_and_is_the_same_as_one_taken_fresh(max_tasks):
    fresh, fresh_since, _, _ = replay(snapshot_every_event=False, max_tasks=max_tasks)
    kept, kept_since, snaps, state = replay(snapshot_every_event=True, max_tasks=max_tasks)
    assert sorted(state.facts) == sorted(state.tasks)  # the facts of tasks the State let go are let go too
    assert kept == fresh and kept_since == fresh_since
    assert [t.id for t in fresh.tasks] == (["a", "b", "c", "d"] if max_tasks > 2 else ["c", "d"])
    c = next(t for t in fresh.tasks if t.id == "c")
    assert [(r.node, r.end) for r in c.runs] == [("w1@h", "lost"), ("w2@h", "succeeded")] and c.redelivered
    # a snapshot taken earlier is not changed by later events (its facts were copied, not shared)
    a_running = snaps[2].tasks[0]
    assert a_running.id == "a" and a_running.runs[0].end is None and a_running.state == "STARTED"
    assert len(kept.tasks) == len(set(t.id for t in kept.tasks))
    assert [t.id for t in fresh_since.tasks] == ["c", "d"]  # a and b finished before +5


# Exact layouts. A window of 128 s over 128 columns (a label of 12 + 1 space + 128 = 141 wide; 12 is a short
# name of 4 characters + 8) puts second t in column t exactly, so every boundary below is a column number.
W128 = dict(window_s=128.0, width=141, start=0.0)


def test_lane_text_puts_each_bar_at_its_columns_and_clips_to_the_width():
    lane = Lane("w@h", 1, 0, "w", "alive", [Segment(2, 5, "abc", "succeeded"), Segment(6, 10, "wxyz", "running")])
    assert lane.text(12) == "  abc wxyz  "
    assert lane.text(8) == "  abc wx"  # a bar crossing the edge is cut there
    assert lane.text(4) == "  ab"
    assert lane.text(1) == " "  # a bar starting past the edge leaves nothing
    assert Lane("w@h", 1, 0, "w", "alive").text(3) == "   "


def test_names_are_split_at_the_first_at_sign_like_celery_does():
    assert short_names(["solo1", "solo2"]) == {"solo1": "solo1", "solo2": "solo2"}  # no host part to drop
    assert short_names(["a@x@h", "b@x@h"]) == {"a@x@h": "a", "b@x@h": "b"}  # host "x@h" shared
    assert short_names(["a@x@h", "b@y@h"]) == {"a@x@h": "a@x@h", "b@y@h": "b@y@h"}  # nothing shared
    assert short_names(["w@a@h1", "w@b@h2"]) == {"w@a@h1": "a@h1", "w@b@h2": "b@h2"}  # name "w" shared
    assert short_names(["only@h"]) == {"only@h": "only@h"} and short_names([]) == {}


def test_fit_keeps_what_fits_and_cuts_the_middle_of_the_rest():
    assert fit("abcde", 5) == "abcde"
    assert fit("abcdef", 5) == "ab…ef"
    assert fit("abcdefgh", 6) == "ab…fgh"  # the odd character goes to the tail
    assert fit("abc", 2) == "…c"
    assert fit("abc", 1) == "a"
    assert fit("abc", 0) == ""
    assert fit("abc", -2) == ""  # never more than asked for, even when nothing is left for it


def test_bar_texts_shorten_the_name_then_drop_it_and_always_keep_the_marks():
    runs = [  # (id, start, end, how it ended, name) on one worker, back to back
        ("a", 0, 1, "succeeded", "task1"), ("b", 2, 4, "succeeded", "task1"), ("c", 5, 8, "succeeded", "task1"),
        ("d", 9, 14, "succeeded", "task1"), ("e", 15, 21, "succeeded", "task1"), ("f", 22, 23, "failed", "task1"),
        ("g", 24, 26, "failed", "task1"), ("h", 27, 30, "failed", "task1"), ("i", 31, 33, "succeeded", None),
        ("k", 43, 46, "retried", "task1"), ("m", 47, 47.5, "succeeded", "task1")]
    tasks = [task(i, Attempt("w1@h", 1, a, b, end), name=name) for i, a, b, end, name in runs]
    # a job whose worker was lost (lost at 34, when it started again) and its redelivery
    tasks.append(task("j", Attempt("w1@h", 1, 34.0, None, "lost"), Attempt("w1@h", 1, 36.0, 42.0, "succeeded")))
    view = lanes(snap([worker("w1@h", beat=50.0)], tasks), 50.0, **W128)
    assert (view.label_width, view.columns, view.hidden_lanes) == (12, 128, 0)
    (lane,) = view.lanes
    expected = {0: "━", 2: "1━", 5: "1━━", 9: "1━━━━", 15: "task1━", 22: "✗", 24: "━✗", 27: "1━✗", 31: "?━",
                34: "━✗", 36: "↻1━━━━", 43: "1━↺", 47: "━"}
    assert [(seg.start, seg.text) for seg in lane.segments] == sorted(expected.items())
    assert all(seg.end == seg.start + len(seg.text) for seg in lane.segments)
    cells = [" "] * 128
    for col, text in expected.items():
        cells[col:col + len(text)] = text
    assert lane.text(128) == "".join(cells)
    assert FAILED == "✗" and RETRIED == "↺" and REDELIVERED == "↻" and BAR == "━"


def test_label_width_and_columns():
    empty = lanes(snap(), 5.0, 10.0, 80, start=0.0)
    assert (empty.label_width, empty.columns, empty.lanes, empty.hidden_lanes) == (12, 67, [], 0)
    assert (empty.window_start, empty.span_s) == (0.0, 10.0)
    assert lanes(snap(), 5.0, 10.0, 10, start=0.0).columns == 1  # never less than one column
    long_name = "worker@31759002942e0000"  # 23 characters: wants 31 columns of label
    one = snap([worker(long_name)])
    assert lanes(one, 1.0, 10.0, 40, start=0.0).label_width == 12  # at least 12...
    assert lanes(one, 1.0, 10.0, 113, start=0.0).label_width == 28  # ...at most a quarter of the width
    assert lanes(one, 1.0, 10.0, 200, start=0.0).label_width == 31  # else the name and 8 more
    short = lanes(snap([worker("w1@h")]), 1.0, 10.0, 113, start=0.0)
    assert (short.label_width, short.columns) == (12, 100)


def test_long_labels_are_cut_to_leave_room_for_sub_lane_and_state():
    name = "worker@31759002942e"
    dead = lanes(snap([worker(name, beat=1.0, alive=False)], [task("a", Attempt(name, 1, 0.0, 0.5, "succeeded"))]),
                 9.0, 10.0, 40, start=0.0)
    assert [lane.label for lane in dead.lanes] == ["wor…42e dead"]
    two = lanes(snap([worker(name, beat=2.0)], [task("a", Attempt(name, 1, 0.0)), task("b", Attempt(name, 1, 0.5))]),
                2.0, 10.0, 40, start=0.0)
    assert [lane.label for lane in two.lanes] == ["worke…02942e", "work…2942e/2"]
    assert all(len(lane.label) == two.label_width for lane in two.lanes)


def test_a_job_redelivered_while_its_first_worker_lives_on_ends_where_the_next_attempt_starts():
    tasks = [task("j", Attempt("wk-1@h", 1, 10.0, None, "lost"), Attempt("wk-2@h", 2, 30.0, None, "lost"),
                  Attempt("wk-1@h", 1, 50.0))]
    view = lanes(snap([worker("wk-1@h", beat=80.0), worker("wk-2@h", beat=80.0)], tasks), 90.0, **W128)
    w1, w2 = view.lanes
    assert [(s.start, s.end, s.kind) for s in w1.segments] == [(10, 30, "lost"), (50, 90, "running")]
    assert [(s.start, s.end, s.kind) for s in w2.segments] == [(30, 50, "lost")]
    assert w1.segments[1].text.startswith(REDELIVERED) and w2.segments[0].text.startswith(REDELIVERED)
    assert not w1.segments[0].text.startswith(REDELIVERED)
    assert w1.segments[0].text.endswith(FAILED) and view.running == 1


def test_a_job_on_a_worker_never_seen_is_lost_up_to_now_on_a_lane_of_unknown_status():
    view = lanes(snap([], [task("j", Attempt("gh@h", 1, 10.0, None, "lost"))]), 20.0, **W128)
    (lane,) = view.lanes
    assert (lane.status, lane.label) == ("unknown", "gh@h")
    assert [(s.start, s.end, s.kind, s.text) for s in lane.segments] == [(10, 20, "lost", "task1━━━━✗")]


def test_a_dead_workers_job_ends_at_its_last_heartbeat_even_when_that_is_its_start():
    view = lanes(snap([worker("w1@h", beat=20.0, alive=False)], [task("j", Attempt("w1@h", 1, 20.0))]), 90.0, **W128)
    (lane,) = view.lanes
    assert [(s.start, s.end, s.kind, s.text) for s in lane.segments] == [(20, 21, "lost", FAILED)]
    assert view.running == 0 and view.workers_dead == 1


def test_a_lost_job_from_a_worker_whose_clock_runs_ahead_is_one_column_at_its_start():
    # started at 50 by the worker's clock, which is ahead: the viewer's now is 40, the last heartbeat 10
    view = lanes(snap([worker("w1@h", beat=10.0, alive=False)], [task("j", Attempt("w1@h", 1, 50.0))]), 40.0, **W128)
    assert [(s.start, s.end, s.kind) for s in view.lanes[0].segments] == [(50, 51, "lost")]


def test_a_job_rejected_by_one_worker_and_run_by_another_is_redelivered():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.heartbeat("w2@h", 0)
    c.runs("j", "w1@h", 0.5)
    c.event("task-rejected", 1.0, "w1@h", uuid="j", pid=100)
    c.runs("j", "w2@h", 2.0, 3.0)
    view = c.view(3.5)
    first, second = view.lanes
    assert first.segments[0].kind == "rejected" and not first.segments[0].text.startswith(REDELIVERED)
    assert second.segments[0].text.startswith(REDELIVERED) and view.redelivered == 1


def test_the_window_is_closed_at_both_ends():
    tasks = [task("before", Attempt("wk-1@h", 1, 100.0, 120.0, "succeeded")),  # ends exactly at the window's start
             task("old", Attempt("wk-1@h", 1, 0.0, 1.0, "succeeded")),  # long before it
             task("last", Attempt("wk-1@h", 1, 247.5, 248.0, "succeeded")),  # in its last column
             task("after", Attempt("wk-2@h", 2, 248.0))]  # starts exactly at its end
    workers = [worker("wk-1@h", beat=250.0), worker("wk-2@h", beat=250.0)]
    view = lanes(snap(workers, tasks), 250.0, 128.0, 141, start=120.0)
    w1, w2 = view.lanes
    assert [(s.task_id, s.start, s.end) for s in w1.segments] == [("before", 0, 1), ("last", 127, 128)]
    assert [(s.task_id, s.start, s.end) for s in w2.segments] == [("after", 127, 128)]


def test_watch_keeps_a_slots_new_jobs_after_its_old_ones_scrolled_away():
    tasks = [task("old", Attempt("w1@h", 1, 0.0, 1.0, "succeeded")),
             task("new", Attempt("w1@h", 1, 200.0, 210.0, "succeeded"))]
    view = lanes(snap([worker("w1@h", beat=250.0)], tasks), 256.0, 128.0, 141)
    assert view.window_start == 128.0 and view.span_s == 128.0
    assert [(s.task_id, s.start, s.end) for s in view.lanes[0].segments] == [("new", 72, 82)]


def test_an_idle_worker_that_died_in_the_window_keeps_an_empty_dead_lane():
    c = Cluster()
    c.heartbeat("w1@h", 0, pid=7)  # exactly at the window's start, then silence
    view = c.view(9.0)
    assert [(ln.node, ln.pid, ln.sub, ln.label, ln.status, ln.segments) for ln in view.lanes] == [
        ("w1@h", 7, 0, "w1@h dead", "dead", [])]
    assert c.view(9.0, start=0.5).lanes == []  # silent since before the window: gone


def test_an_idle_live_worker_has_a_lane_even_if_its_last_heartbeat_was_before_the_window():
    c = Cluster()
    c.heartbeat("w1@h", 8.0)
    (lane,) = c.view(10.5, start=10.0).lanes
    assert (lane.label, lane.status, lane.segments) == ("w1@h", "alive", [])


def test_past_the_lane_limit_idle_workers_heard_from_last_are_kept():
    c = Cluster()
    for i in range(3):
        c.heartbeat(f"w{i}@h", float(i), pid=i)
    view = c.view(2.5, max_lanes=2)
    assert [lane.node for lane in view.lanes] == ["w1@h", "w2@h"] and view.hidden_lanes == 1
    assert c.view(2.5, max_lanes=3).hidden_lanes == 0


def test_the_idle_lane_of_a_restarted_worker_names_its_current_process():
    c = Cluster()
    c.heartbeat("w1@h", 0, pid=5)
    c.runs("a", "w1@h", 0.0, 1.0, pid=5)
    c.heartbeat("w1@h", 2.0, pid=6)
    c.runs("b", "w1@h", 2.0, 3.0, pid=6)
    c.heartbeat("w1@h", 28.0, pid=6)
    view = c.view(30.0, start=None)
    assert [(lane.label, lane.pid, lane.segments) for lane in view.lanes] == [("w1@h 6", 6, [])]


def test_lanes_are_ordered_by_host_then_node_then_process():
    # a node name splits at its first @ (as Celery's does): "b@a@z" is on host "a@z", before "b@y"
    workers = [worker(n, beat=5.0) for n in ("a@h2", "b@h1", "a@b@y", "b@a@z")]
    view = lanes(snap(workers), 5.0, 10.0, 80, start=0.0)
    assert [lane.node for lane in view.lanes] == ["b@a@z", "a@b@y", "b@h1", "a@h2"]
    # one node, three processes, the one without a pid first (in a container the worker is often pid 1)
    tasks = [task(str(pid), Attempt("w1@h", pid, 1.0, 2.0, "succeeded")) for pid in (9, 1, None)]
    view = lanes(snap([worker("w1@h", beat=5.0)], tasks), 5.0, 10.0, 80, start=0.0)
    assert [lane.label for lane in view.lanes] == ["w1@h", "w1@h 1", "w1@h 9"]


def test_counts_of_jobs_and_workers():
    c = Cluster()
    for node in ("w1@h", "w2@h", "w3@h", "w4@h"):
        c.heartbeat(node, 0)
    c.event("worker-offline", 0.5, "w4@h", pid=100, freq=2.0)
    for t in (2.0, 4.0, 6.0):
        c.heartbeat("w1@h", t)
        c.heartbeat("w2@h", t)
    c.sent("p", 0.0)  # PENDING
    c.event("task-received", 1.0, "w1@h", uuid="r", name="task1", pid=100, retries=0)  # RECEIVED
    c.runs("again", "w1@h", 1.0, 2.0, outcome="retried")  # RETRY, until it starts again
    c.runs("s1", "w1@h", 2.0, 3.0)
    c.runs("s2", "w2@h", 2.0, 3.0)
    c.runs("f", "w2@h", 3.0, 4.0, outcome="failed")
    c.runs("run", "w2@h", 4.0)
    view = c.view(6.5)
    assert (view.waiting, view.running, view.succeeded, view.failed, view.retried) == (3, 1, 2, 1, 1)
    assert (view.workers_alive, view.workers_dead) == (2, 1)  # w3 went silent, w4 said goodbye


def test_a_lanes_recency_is_its_latest_end_even_when_a_clock_ahead_makes_a_running_job_end_earlier():
    # w1's clock runs ahead of the viewer's: its finished job ended at 30, its running one "ends" at now, 20
    tasks = [task("done", Attempt("wk-1@h", 1, 10.0, 30.0, "succeeded")), task("run", Attempt("wk-1@h", 1, 35.0))]
    workers = [worker("wk-1@h", beat=20.0), worker("wk-2@h", beat=25.0)]  # wk-2 idle, heard from at 25
    view = lanes(snap(workers, tasks), 20.0, max_lanes=1, **W128)
    assert [lane.node for lane in view.lanes] == ["wk-1@h"] and view.hidden_lanes == 1


def test_a_job_left_unfinished_by_a_worker_that_said_goodbye_ends_at_its_goodbye_not_now():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.runs("job", "w1@h", 0.5)
    c.heartbeat("w1@h", 1.0)
    c.event("worker-offline", 2.0, "w1@h", pid=100, freq=2.0)  # Celery's State clears its heartbeats
    facts = snapshot(c.state, T0 + 9).worker("w1@h")
    assert facts.offline and facts.last_heartbeat is None and facts.offline_at == T0 + 2.0
    assert facts.silent_since == T0 + 2.0
    view = c.view(9.0)
    (lane,) = view.lanes
    assert lane.status == "offline" and lane.label.endswith("left")
    (seg,) = lane.segments
    assert seg.kind == "lost" and (seg.start, seg.end) == (int(0.5 / 10 * view.columns), int(2.0 / 10 * view.columns))


def test_a_worker_back_online_after_its_goodbye_is_no_longer_offline():
    c = Cluster()
    c.event("worker-offline", 2.0, "w1@h", pid=100, freq=2.0)
    c.event("worker-online", 3.0, "w1@h", pid=101, freq=2.0)
    c.heartbeat("w1@h", 3.0, pid=101)
    facts = snapshot(c.state, T0 + 4).worker("w1@h")
    assert facts.alive and facts.offline_at is None and facts.silent_since == T0 + 3.0


def test_a_snapshot_holds_the_state_lock_only_to_copy_plain_values(monkeypatch):
    """The events thread waits while the lock is held: no fact is built under it, and the copy is of values,
    so an event applied right after the copy changes nothing in the snapshot (issue #24, part 4)."""
    import cluster.events as events

    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.runs("a", "w1@h", 1.0)  # running: its run and holder are changed in place when it ends
    held = []
    freeze_while = c.state.freeze_while

    def watched(fun, *args, **kwargs):
        held.append(True)
        try:
            copied = freeze_while(fun, *args, **kwargs)
        finally:
            held.pop()
        c.runs("b", "w1@h", 2.0)  # the events thread goes on at once...
        c.event("task-succeeded", 3.0, "w1@h", uuid="a", pid=100)  # ...and ends `a` in place
        return copied

    for name in ("WorkerFacts", "TaskFacts", "Attempt", "Holder"):
        built = getattr(events, name)
        monkeypatch.setattr(events, name, lambda *a, _built=built, **k: (held and pytest.fail("built under the lock"))
                            or _built(*a, **k))
    monkeypatch.setattr(c.state, "freeze_while", watched)
    snap = snapshot(c.state, T0 + 2.5)
    [task] = snap.tasks
    assert task.id == "a" and task.state == "STARTED"
    assert task.runs == (Attempt("w1@h", 100, T0 + 1.0),) and task.holder.settled is False
    assert snap.worker("w1@h").alive and snap.events == 3


def test_events_wait_while_a_frame_is_drawn_then_are_applied_in_order():
    from celery import Celery

    from cluster.events import ClusterEvents, EventState

    events = ClusterEvents(Celery(set_as_current=False), EventState())
    c = Cluster()
    c.state = events.state  # the builder's events, handed to the follower as its events thread would
    applied = threading.Event()

    def deliver() -> None:
        c.event = lambda type_, at, hostname, **fields: events._handle(
            {"type": type_, "hostname": hostname, "timestamp": T0 + at, "local_received": T0 + at,
             "clock": 1, "utcoffset": 0, **fields})
        c.runs("a", "w1@h", 0.0, 1.0)
        applied.set()

    with events.paused():
        thread = threading.Thread(target=deliver)
        thread.start()
        assert not applied.wait(0.2) and events.state.event_count == 0  # held off while the frame is drawn
    assert applied.wait(5) and events.state.event_count == 3
    thread.join()
    assert snapshot(events.state, T0 + 2).tasks[0].state == "SUCCESS"


def test_a_frame_lays_out_with_the_events_paused_and_asks_redis_outside_the_pause(monkeypatch):
    from contextlib import contextmanager

    from celery import Celery

    from producer.views.live import Following

    following = Following(Celery(set_as_current=False, broker="redis://127.0.0.1:1/0"), ("jobs",), 30.0,
                          scrolling=True, title="watch")
    pausing, seen = [], {}
    paused = following.events.paused

    @contextmanager
    def watched():
        with paused():
            pausing.append(True)
            try:
                yield
            finally:
                pausing.pop()

    snapshot_of = following.events.snapshot
    monkeypatch.setattr(following.events, "paused", watched)
    monkeypatch.setattr(following.events, "snapshot", lambda *a, **k: seen.setdefault("snapshot", bool(pausing))
                        and snapshot_of(*a, **k))
    monkeypatch.setattr(following.depth, "read", lambda: seen.setdefault("depth", bool(pausing)) or {"jobs": 3})
    frame = following.facts(80)
    assert seen == {"snapshot": True, "depth": False} and frame.depths == {"jobs": 3} and not pausing
    assert frame.headline()[1] == ("queue jobs 3", "queue")


def test_bars_drawn_over_whole_are_left_out_and_every_lane_reads_the_same(monkeypatch):
    from producer.views import lanes as layout

    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.heartbeat("w2@h", 0)
    for i in range(300):  # 300 jobs of 20 ms on w1, then a long one; on w2 a thread pool's overlapping jobs
        c.runs(f"j{i}", "w1@h", i * 0.02, (i + 1) * 0.02, outcome="failed" if i % 7 == 0 else "succeeded")
    c.runs("long", "w1@h", 6.0, 9.0, name="task2")
    for i in range(40):
        c.runs(f"t{i}", "w2@h", i * 0.1, i * 0.1 + 0.35, pid=7)
    c.heartbeat("w1@h", 9.5)
    c.heartbeat("w2@h", 9.5)
    kept = c.view(10.0, width=80)
    monkeypatch.setattr(layout, "_drawn_over_left_out", lambda placed: placed)
    whole = c.view(10.0, width=80)
    assert [(ln.label, ln.text(kept.columns)) for ln in kept.lanes] == \
        [(ln.label, ln.text(whole.columns)) for ln in whole.lanes]
    assert len(kept.lanes) == len(whole.lanes) >= 3  # w2's overlapping jobs on sub-lanes
    assert sum(len(ln.segments) for ln in kept.lanes) < sum(len(ln.segments) for ln in whole.lanes) / 3
    for ln in kept.lanes:  # what is kept shows at least one column of its own
        for i, seg in enumerate(ln.segments):
            later = {col for s in ln.segments[i + 1:] for col in range(s.start, s.end)}
            assert not set(range(seg.start, seg.end)) <= later
    assert (kept.running, kept.succeeded, kept.failed) == (whole.running, whole.succeeded, whole.failed)


def test_a_bar_is_left_out_only_when_later_bars_of_its_own_sub_lane_cover_every_column_of_it():
    from producer.views.lanes import _drawn_over_left_out

    placed = [(0, (0, 3), "partly covered"), (0, (2, 3), "covers column 2"), (1, (2, 3), "another sub-lane"),
              (0, (4, 5), "covered by the two after"), (0, (4, 5), "same column"), (0, (4, 6), "last")]
    assert [name for _, _, name in _drawn_over_left_out(placed)] == [
        "partly covered", "covers column 2", "another sub-lane", "last"]
    wide = [(0, (0, 1), "first"), (0, (1, 3), "covered whole"), (0, (1, 2), "one"), (0, (2, 3), "two")]
    assert [name for _, _, name in _drawn_over_left_out(wide)] == ["first", "one", "two"]  # and those before it stay


def test_the_tasks_changed_since_a_snapshot_are_kept_to_those_the_state_still_holds():
    c = Cluster(max_tasks=2)
    for i in range(10):  # nobody takes a snapshot: a quiet follower's run
        c.runs(f"j{i}", "w1@h", float(i), i + 0.5)
    assert len(c.state.changed) <= 2 * 2 + 1 and {"j8", "j9"} <= c.state.changed
    assert [t.id for t in snapshot(c.state, T0 + 11).tasks] == ["j8", "j9"]


def test_an_event_celery_chokes_on_still_marks_its_task_changed():
    c = Cluster()
    c.runs("a", "w1@h", 0.0)
    snapshot(c.state, T0 + 1)

    def choke(event):  # Celery's dispatcher, failing after it changed the task (as a bad field can make it)
        raise TypeError("cannot order the event")

    c.state.__dict__["_event"] = choke
    with pytest.raises(TypeError):
        c.state.event({"type": "task-succeeded", "uuid": "a", "hostname": "w1@h", "timestamp": T0 + 2})
    assert c.state.changed == {"a"}  # the next snapshot copies it again


def test_the_headline_names_each_count_with_its_kind_and_the_trouble_line_says_why():
    c = Cluster()
    c.heartbeat("w1@h", 0)
    c.sent("queued", 0.0)
    c.runs("ok", "w1@h", 0.0, 1.0)
    c.runs("bad", "w1@h", 1.0, 2.0, outcome="failed")
    c.runs("again", "w1@h", 2.0, 3.0, outcome="retried")
    c.runs("again", "w1@h", 3.0)
    view = c.view(4.0)
    frame = Frame(view, "run 4.0 s", {"jobs": 2, "other": 0}, True)
    assert frame.headline() == [
        ("run 4.0 s", "title"), ("queue jobs 2 other 0", "queue"), ("waiting 1", "waiting"),
        ("running 1", "running"), ("done 1", "succeeded"), ("failed 1", "failed"), ("retried 1", "retried")]
    assert frame.trouble() is None
    quiet = Frame(view, "run", {}, True)  # no queue asked: nothing said of it
    assert [kind for _, kind in quiet.headline()][:3] == ["title", "waiting", "running"]
    assert Frame(view, "run", None, True).trouble() == "broker unreachable, reconnecting…"
    assert Frame(view, "run", {"jobs": 0}, False, "ConnectionError: refused").trouble() == \
        "broker unreachable, reconnecting… ConnectionError: refused"


# --- the terminal's styles: bars of one style that touch, applied as one ----------------------------------


def test_touching_bars_of_one_style_are_styled_as_one_span_and_bars_apart_or_of_another_style_are_not():
    from producer.views.live import styled_runs

    segments = [Segment(0, 2, "a", "succeeded"), Segment(2, 3, "b", "succeeded"), Segment(1, 3, "c", "succeeded"),
                Segment(3, 5, "d", "running"), Segment(5, 6, "e", "running"), Segment(7, 9, "f", "running"),
                Segment(6, 8, "g", "running"), Segment(8, 12, "h", "failed")]
    assert styled_runs(segments, 10) == [
        ("green", 0, 3),  # a and b touch, c lies inside: one span
        ("bold yellow", 3, 6), ("bold yellow", 7, 9),  # a gap between e and f
        ("bold yellow", 6, 8),  # g starts before f: applied after it, not merged into it
        ("bold red", 8, 10)]  # cut to the columns


def test_the_styled_spans_give_every_cell_the_style_the_bars_one_by_one_give_it():
    import io
    import random

    from rich.console import Console
    from rich.text import Text

    from producer.views.live import STYLES, styled_runs

    console = Console(file=io.StringIO(), force_terminal=True, width=200, color_system="truecolor")

    def cells(text: Text) -> list[str]:
        return [str(seg.style) for seg in console.render(text) for _ in seg.text]

    rng = random.Random(7)
    for _ in range(200):
        columns, at, segments = rng.randint(1, 40), 0, []
        for _ in range(rng.randint(0, 15)):
            at = rng.randint(max(0, at - 2), at + 3)  # mostly in start order, as a sub-lane's bars are
            segments.append(Segment(at, at + rng.randint(1, 5), "x", rng.choice([*STYLES, "other"])))
        one_by_one, joined = Text("━" * columns), Text("━" * columns)
        for seg in segments:
            one_by_one.stylize(STYLES.get(seg.kind, ""), seg.start, min(seg.end, columns))
        for style, start, end in styled_runs(segments, columns):
            joined.stylize(style, start, end)
        assert cells(joined) == cells(one_by_one)


# --- when frames are drawn ------------------------------------------------------------------------------


class FakeTime:
    """A clock that moves only when waited on (or when a frame takes time), and a stop set after `frames`."""

    def __init__(self, frames: int) -> None:
        self.now, self.frames, self.waits = 100.0, frames, []

    def wait(self, seconds: float) -> bool:
        self.waits.append(round(seconds, 6))
        self.now += seconds
        return len(self.waits) > self.frames

    def clock(self) -> float:
        return self.now


def frame_starts(frame_s: list[float], per_s: float = 4, rest_s: float = 0.1) -> tuple[list[float], list[float]]:
    """When each frame started (from the first wait's start) and the waits before them, each frame taking frame_s[i]."""
    from producer.views.live import frame_ticks

    fake, starts = FakeTime(len(frame_s)), []
    origin = fake.now
    for took in zip(frame_ticks(fake, per_s, rest_s, clock=fake.clock), frame_s, strict=False):
        starts.append(round(fake.now - origin, 6))
        fake.now += took[1]
    return starts, fake.waits


def test_frames_are_due_a_period_apart_from_start_to_start_not_from_one_end_to_the_next_start():
    starts, waits = frame_starts([0.05, 0.1, 0.12, 0.0])
    assert starts == [0.25, 0.5, 0.75, 1.0]  # rich's refresh thread waits after each: 0.25, 0.55, 0.9, 1.27
    assert waits[:4] == [0.25, 0.2, 0.15, 0.13]


def test_a_frame_longer_than_the_period_is_followed_after_the_rest_and_moves_the_schedule_without_a_burst():
    starts, waits = frame_starts([0.6, 0.0, 0.0, 0.22, 0.0])
    assert starts == [0.25, 0.95, 1.2, 1.45, 1.77]
    assert waits[:5] == [0.25, 0.1, 0.25, 0.25, 0.1]  # the missed frames are not drawn at once; rest after a long one


def test_frames_stop_when_asked_and_follow_the_rate_asked():
    starts, waits = frame_starts([0.0] * 8, per_s=2, rest_s=0.1)
    assert starts == [0.5 * k for k in range(1, 9)] and len(waits) == 9  # the ninth wait saw the stop


def test_runs_of_one_slot_that_start_together_keep_the_snapshots_order_on_its_sub_lanes():
    """Stable: the first of two jobs that started at the same instant on a thread pool gets the first sub-lane,
    whichever ends first (sorting by more than the start would put the shorter one first)."""
    first, second = Attempt("th@h", 7, 1.0, 3.0, "succeeded"), Attempt("th@h", 7, 1.0, 2.0, "succeeded")
    view = lanes(snap([worker("th@h", beat=4.0, pid=7)], [task("a", first, state="SUCCESS"),
                                                            task("b", second, state="SUCCESS")]), 4.0, 10.0, 80)
    assert [(lane.sub, [seg.task_id for seg in lane.segments]) for lane in view.lanes] == [(0, ["a"]), (1, ["b"])]


def test_every_redelivered_job_is_counted_and_the_headline_says_so():
    runs = [task(f"r{i}", Attempt("w1@h", 1, i, i + 0.5, "lost"), Attempt("w2@h", 2, i + 1.0, i + 1.5, "succeeded"),
                 state="SUCCESS") for i in range(2)]
    plain = task("plain", Attempt("w2@h", 2, 3.0, 3.5, "succeeded"), state="SUCCESS")  # last: counted, not a reset
    view = lanes(snap([worker("w1@h", beat=4.0), worker("w2@h", beat=4.0, pid=2)], [*runs, plain]), 4.0, 10.0, 80)
    assert view.redelivered == 2 and view.succeeded == 3
    assert Frame(view, "run", None, True).headline()[-1] == ("redelivered 2", "redelivered")
