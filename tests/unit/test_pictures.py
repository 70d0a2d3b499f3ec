"""The PNG pictures, from made-up outcomes: a Gantt chart per worker slot and a speedup curve."""

from __future__ import annotations

import pytest

from producer.errors import UsageError
from producer.figures import summarize
from producer.plot import check_format, gantt, gantt_figure, speedup_curve
from tests.unit.builders import outcome, record, waves

pytest.importorskip("matplotlib", reason="the plot extra is not installed")


def test_gantt_has_a_row_per_slot_and_marks_the_three_walls():  # 9 jobs on 4 slots: ideal 3 waves
    out = waves(8, hosts=4) + [outcome(record(0.2, 0.5, task_id="bad", hostname="h9"), status="FAILURE")]
    summary = summarize(out, wall_s=2.02, slots_online=4)
    fig = gantt_figure(out, summary)
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
    gantt(path, out, summarize(out, wall_s=2.02, slots_online=4))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    curve = tmp_path / "sweep.png"
    speedup_curve(curve, [{"workers": k, "speedup": k * 0.95, "ideal_speedup": k} for k in (1, 2, 4)])
    assert curve.read_bytes()[:4] == b"\x89PNG"


def test_an_unknown_picture_format_is_refused_before_any_job(tmp_path):
    check_format(tmp_path / "run.svg")
    with pytest.raises(UsageError, match=r"cannot save \.xyz files; use one of .*\.png"):
        check_format(tmp_path / "run.xyz")
