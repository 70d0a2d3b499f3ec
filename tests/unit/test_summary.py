"""The summary math: wall vs sequential, speedup, efficiency, overlap and the verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from producer.summary import peak_overlap, summarize, verdict

T0 = datetime(2026, 11, 24, 19, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def record(worker: str, start: float, end: float) -> dict:
    return {"worker": worker, "started_at": at(start).isoformat(), "finished_at": at(end).isoformat(),
            "runtime_s": end - start}


def test_back_to_back_jobs_do_not_overlap():
    assert peak_overlap([(at(0), at(1)), (at(1), at(2)), (at(2), at(3))]) == 1


def test_overlap_counts_jobs_running_at_once():
    assert peak_overlap([(at(0), at(1)), (at(0.5), at(1.5)), (at(0.9), at(2)), (at(1.6), at(2))]) == 3


def test_no_jobs_no_overlap():
    assert peak_overlap([]) == 0


def test_eight_jobs_on_four_workers():
    records = [record(f"w{i % 4}", i // 4, i // 4 + 1) for i in range(8)]
    s = summarize(records, jobs=8, duration_s=1.0, wall_s=2.02, slots_online=4)
    assert s["succeeded"] == 8 and s["failed"] == 0
    assert s["workers_used"] == 4 and s["peak_overlap"] == 4
    assert s["sequential_s"] == pytest.approx(8.0)
    assert s["ideal_wall_s"] == 2.0
    assert s["speedup"] == pytest.approx(8 / 2.02, abs=1e-3)
    assert s["efficiency"] == pytest.approx(2 / 2.02, abs=1e-3)
    assert s["verdict"] == "ran in parallel on 4 workers: 3.96x faster than one after another"


def test_ideal_rounds_up_partial_waves():
    records = [record("w0", 0, 1)] * 5
    assert summarize(records, jobs=5, duration_s=1.0, wall_s=3.0, slots_online=2)["ideal_wall_s"] == 3.0


def test_one_worker_is_sequential():
    records = [record("w0", 0, 1), record("w0", 1, 2)]
    s = summarize(records, jobs=2, duration_s=1.0, wall_s=2.05, slots_online=1)
    assert s["peak_overlap"] == 1
    assert s["verdict"] == "ran one after another"


def test_failed_jobs_and_unknown_slots():
    s = summarize([record("w0", 0, 1)], jobs=3, duration_s=1.0, wall_s=1.1, slots_online=0)
    assert s["failed"] == 2
    assert s["ideal_wall_s"] is None and s["efficiency"] is None


def test_nothing_succeeded():
    s = summarize([], jobs=2, duration_s=1.0, wall_s=0.0, slots_online=2)
    assert s["speedup"] is None and s["workers_used"] == 0
    assert s["verdict"] == "ran one after another"


def test_verdict_for_threads_on_one_worker():
    assert verdict(4, 1, 3.5) == "ran concurrently on 1 worker (up to 4 at once): 3.50x faster than one after another"
