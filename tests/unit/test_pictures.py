"""The terminal timeline, the Chrome trace and the PNG plot, from made-up result records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from producer.plot import gantt, speedup_curve
from producer.timeline import BAR, WAIT, layout, render
from producer.trace import build_trace, write_trace

T0 = datetime(2026, 11, 24, 19, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def record(i: int, worker: str, pid: int, submitted: float, started: float, finished: float) -> dict:
    return {"task": f"task{i % 2 + 1}", "task_id": f"id-{i}", "kind": "sleep", "worker": worker, "pid": pid,
            "submitted_at": at(submitted), "started_at": at(started), "finished_at": at(finished),
            "received_at": at(finished + 0.002), "runtime_s": finished - started, "attempt": 1,
            "redelivered": False, "status": "SUCCESS"}


def eight_on_four() -> list[dict]:
    """8 one-second jobs on 4 workers: two waves."""
    return [record(i, f"worker@{i % 4}", 7, i * 0.001, (i // 4) * 1.0 + 0.01, (i // 4) * 1.0 + 1.01)
            for i in range(8)]


def plain(lines) -> list[str]:
    console = Console(width=200, force_terminal=False, color_system=None)
    with console.capture() as capture:
        for line in lines:
            console.print(line, soft_wrap=True)
    return capture.get().splitlines()


def test_eight_jobs_on_four_workers_make_four_rows_of_two_bars():
    timeline = layout(eight_on_four(), width=100)
    assert [row.worker for row in timeline.rows] == ["worker@0", "worker@1", "worker@2", "worker@3"]
    for row in timeline.rows:
        assert len(row.bars) == 2
        first, second = row.bars
        assert first.end <= second.start  # one after another within a slot
        assert second.start == pytest.approx(timeline.columns / 2, abs=2)  # the second wave starts at 1 s of 2 s
    text = plain(render(timeline))
    assert len(text) == 1 + 4 + 2  # queue line, 4 slots, axis marks and labels
    assert text[1].count("task1") + text[1].count("task2") == 2
    assert text[-1].split() == ["0s", "0.5s", "1s", "1.5s", "2s"]


def test_the_second_wave_is_shown_waiting_in_the_queue():
    timeline = layout(eight_on_four(), width=100)
    assert max(timeline.queued) == 4  # jobs 5-8 wait during the first second
    assert timeline.queued[timeline.columns // 4] == 4 and timeline.queued[-1] == 0


def test_idle_wait_is_dotted():
    records = [record(0, "w@a", 1, 0.0, 0.5, 1.0)]  # waited half a second in the queue, worker idle
    timeline = layout(records, width=60)
    assert timeline.rows[0].waits == [(0, timeline.columns // 2)]
    assert WAIT * 10 in plain(render(timeline))[1]


def test_two_hundred_jobs_on_thirty_two_workers_fit_the_width():
    records = [record(i, f"worker@{i % 32:02d}c1d2e3f4a5", 7, i * 0.001, (i // 32) * 0.25, (i // 32) * 0.25 + 0.25)
               for i in range(200)]
    for width in (60, 80, 160):
        lines = plain(render(layout(records, width)))
        assert len(lines) == 1 + 32 + 2
        assert all(len(line) <= width + 8 for line in lines), width  # axis labels may overhang a little
        assert all(BAR in line for line in lines[1:33])


def test_no_records_draw_a_note():
    assert plain(render(layout([], 80))) == ["(no finished job to draw)"]


def test_trace_has_one_slice_per_job_on_worker_tracks():
    records = eight_on_four()
    trace = build_trace(records)
    events = trace["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    assert len(slices) == 8
    assert len({(e["pid"], e["tid"]) for e in slices}) == 4  # four worker tracks
    names = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    assert names[0] == "producer" and sorted(names.values())[1:] == [f"worker@{i}" for i in range(4)]
    for e, r in zip(sorted(slices, key=lambda e: e["args"]["task_id"]), sorted(records, key=lambda r: r["task_id"]),
                    strict=True):
        assert e["args"]["task_id"] == r["task_id"] and e["name"] == r["task"]
        start = (datetime.fromisoformat(r["started_at"]) - T0).total_seconds() * 1e6
        assert e["ts"] == pytest.approx(start, abs=1) and e["dur"] == pytest.approx(1e6, abs=1)
    instants = [e for e in events if e["ph"] == "i"]
    assert len(instants) == 16 and all(e["pid"] == 0 for e in instants)  # submit + receive per job


def test_trace_file_is_valid_json(tmp_path):
    path = tmp_path / "run.json"
    write_trace(path, eight_on_four(), {"jobs": 8})
    loaded = json.loads(path.read_text())
    assert set(loaded) == {"traceEvents", "displayTimeUnit", "otherData"}
    assert all({"ph", "pid", "name"} <= set(e) for e in loaded["traceEvents"])


def test_failed_jobs_are_not_drawn_as_slices():
    failed = {"task": "task1", "task_id": "x", "submitted_at": at(0), "status": "FAILURE", "error": "boom"}
    trace = build_trace([*eight_on_four(), failed])
    assert sum(e["ph"] == "X" for e in trace["traceEvents"]) == 8


def test_plot_renders_a_png(tmp_path):
    path = tmp_path / "run.png"
    gantt(path, eight_on_four(), {"wall_s": 2.03, "ideal_wall_s": 2.0, "sequential_s": 8.0, "verdict": "parallel"})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    curve = tmp_path / "sweep.png"
    speedup_curve(curve, [{"workers": k, "speedup": k * 0.95, "ideal_speedup": k} for k in (1, 2, 4)])
    assert curve.read_bytes()[:4] == b"\x89PNG"
