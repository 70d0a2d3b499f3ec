"""The PNG pictures, from made-up outcomes: a Gantt chart per worker slot and a speedup curve."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cluster.errors import UsageError
from producer.figures import summarize
from producer.jobs import LostRun, Seen
from producer.story import tell
from producer.views.plot import check_format, gantt, gantt_figure, speedup_curve
from tests.unit.builders import at, killed_worker, outcome, record, waves

pytest.importorskip("matplotlib", reason="the plot extra is not installed")


def test_gantt_has_a_row_per_slot_and_marks_the_three_walls():  # 9 jobs on 4 slots: ideal 3 waves
    out = waves(8, hosts=4) + [outcome(record(0.2, 0.5, task_id="bad", hostname="h9"), status="FAILURE")]
    summary = summarize(out, wall_s=2.02, slots_online=4)
    fig = gantt_figure(tell(out), summary)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"worker@h{i} pid 7" for i in range(4)] + [
        "worker@h9 pid 8"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["ideal parallel: 3.00 s", "measured wall: 2.02 s", "one after another: 8.00 s",
                      "waiting in the queue"]
    assert ax.get_title() == summary.verdict
    assert "task1 failed" in [t.get_text() for t in ax.texts]


def test_gantt_and_curve_files_are_pngs(tmp_path):
    out = waves(8, hosts=4)
    path = tmp_path / "run.png"
    gantt(path, tell(out), summarize(out, wall_s=2.02, slots_online=4))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    curve = tmp_path / "sweep.png"
    speedup_curve(curve, [{"workers": k, "speedup": k * 0.95, "ideal_speedup": k} for k in (1, 2, 4)])
    assert curve.read_bytes()[:4] == b"\x89PNG"


def test_an_unknown_picture_format_is_refused_before_any_job(tmp_path):
    check_format(tmp_path / "run.svg")
    with pytest.raises(UsageError, match=r"cannot save \.xyz files; use one of .*\.png"):
        check_format(tmp_path / "run.xyz")


def bars(ax) -> list[tuple[float, float, float, str | None]]:
    """Every bar drawn: (row, left, width, hatch), rounded."""
    return [(round(p.get_y() + p.get_height() / 2, 3), round(p.get_x(), 3), round(p.get_width(), 3), p.get_hatch())
            for p in ax.patches]


def test_gantt_draws_lost_attempts_hatched_on_their_workers_row_and_the_wait_split_where_a_worker_took_it():
    out = killed_worker()
    fig = gantt_figure(tell(out), summarize(out, wall_s=2.61, slots_online=3))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["worker@h0 pid 8", "worker@h1 pid 9", "worker@h9"]
    drawn = bars(ax)
    assert (0, 1.0, 0.5, "//") in drawn and (2, 0.2, 1.8, "//") in drawn  # lost: on h0's one slot, on h9's own row
    assert (1, 1.5, 0.05, None) in drawn and (1, 1.55, 0.05, None) in drawn  # back in the queue, then reserved on h1
    assert (0, 0.0, 1.0, None) in drawn  # b's first wait, on the row of the attempt it ended in (h0)
    assert "task2 lost" in [t.get_text() for t in ax.texts] and "task1 lost" in [t.get_text() for t in ax.texts]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-3:] == ["waiting in the queue", "reserved by a worker, waiting for a free slot",
                           "lost with its worker"]


def test_gantt_without_events_draws_each_wait_from_submit_to_start_as_before():
    a, b, c = killed_worker()
    b, c = replace(b, seen=None), replace(c, seen=None)
    ax = gantt_figure(tell([a, b, c]), summarize([a, b, c], wall_s=2.61, slots_online=2)).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["worker@h0 pid 8", "worker@h1 pid 9"]
    assert bars(ax) == [(1, 0.0, 1.6, None), (0, 0.0, 1.0, None), (1, 1.6, 1.0, None)]
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "waiting in the queue"


def test_an_attempt_last_heard_of_when_it_started_is_still_a_bar_one_can_see():
    a, b, _ = killed_worker()
    b = replace(b, seen=Seen("worker@h1", at(1.55), (LostRun("worker@h0", "h0", 100, at(1.0), at(1.0)),)))
    ax = gantt_figure(tell([a, b]), summarize([a, b], wall_s=2.5, slots_online=2)).axes[0]
    assert (0, 1.0, 0.01, "//") in bars(ax)
