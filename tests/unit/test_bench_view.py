"""The live view benchmark's lag math: when each event was first drawn, and the figures (pure)."""

from __future__ import annotations

import pytest

from benchmarks.view import first_drawn, spread_ms, view_figures


def test_each_event_is_drawn_by_the_first_frame_that_held_it():
    # frames held 2, then 2 (nothing new), then 5 events
    assert first_drawn(6, [(2, 10.0), (2, 10.25), (5, 10.5)]) == [10.0, 10.0, 10.5, 10.5, 10.5, None]


def test_a_frame_counting_more_events_than_were_recorded_draws_only_those():
    # the State counts an event a moment before the recorder hears of it: the count may run ahead
    assert first_drawn(2, [(3, 1.0)]) == [1.0, 1.0]
    assert first_drawn(0, [(3, 1.0)]) == []
    assert first_drawn(3, []) == [None, None, None]


def test_spread_in_milliseconds():
    assert spread_ms([0.1, 0.2, 0.3]) == pytest.approx({"p50": 200.0, "p99": 298.0, "max": 300.0})
    assert spread_ms([]) == {"p50": None, "p99": None, "max": None}


def test_figures_count_the_load_only():
    record = {
        # a heartbeat before the load (left out of lags), three task events, one after the stop (undrawn)
        "received": [99.0, 100.1, 100.2, 100.9, 101.6],
        "sent": [98.9, 100.0, 100.15, 100.8, 101.5],
        "types": ["worker-heartbeat", "task-sent", "task-received", "task-sent", "task-succeeded"],
        # (events held, drawing ended at, seconds, CPU seconds)
        "frames": [[1, 99.5, 0.002, 0.001], [3, 100.5, 0.004, 0.002], [4, 101.0, 0.010, 0.004],
                   [4, 101.5, 0.006, 0.003]],
    }
    figures = view_figures(record, start=100.0, end=101.0)
    assert figures["lag_received_ms"] == pytest.approx({"p50": 300.0, "p99": 398.0, "max": 400.0})
    assert figures["lag_sent_ms"] == pytest.approx({"p50": 350.0, "p99": 497.0, "max": 500.0})
    assert figures["delivery_ms"] == pytest.approx({"p50": 100.0, "p99": 100.0, "max": 100.0})  # undrawn too
    assert figures["delivery_ms_by_type"]["task-sent"] == pytest.approx({"p50": 100.0, "p99": 100.0, "max": 100.0})
    assert set(figures["delivery_ms_by_type"]) == {"task-sent", "task-received", "task-succeeded"}
    assert figures["frame_ms"] == pytest.approx({"p50": 7.0, "p99": 9.94, "max": 10.0})  # frames ended in the load
    assert figures["frame_cpu_ms"] == pytest.approx({"p50": 3.0, "p99": 3.98, "max": 4.0})
    assert figures["frames_per_s"] == pytest.approx(2.0)
    assert figures["events_per_s"] == pytest.approx(3.0)
    assert figures["events"] == 4 and figures["undrawn"] == 1


def test_the_first_bar_is_the_first_started_jobs_from_its_start_to_the_frame_that_drew_it():
    record = {
        "received": [100.1, 100.2, 100.3, 100.4],
        "sent": [100.05, 100.15, 100.12, 100.35],
        "types": ["task-received", "task-started", "task-started", "task-succeeded"],
        "frames": [[2, 100.25, 0.001, 0.001], [4, 100.5, 0.001, 0.001]],
    }
    # the second task-started was sent first (100.12) and drawn with the second frame (100.5)
    assert view_figures(record, start=100.0, end=101.0)["first_bar_ms"] == pytest.approx(380.0)
    record["types"] = ["task-received"] * 4  # no job started: no first bar, not 0
    assert view_figures(record, start=100.0, end=101.0)["first_bar_ms"] is None


def test_events_without_a_sender_timestamp_count_for_arrival_lag_only():
    record = {"received": [1.0, 1.1], "sent": [None, 1.05], "frames": [[2, 1.2, 0.001, 0.001]]}
    figures = view_figures(record, start=0.5, end=1.5)
    assert figures["lag_received_ms"]["max"] == pytest.approx(200.0)
    assert figures["lag_sent_ms"] == pytest.approx({"p50": 150.0, "p99": 150.0, "max": 150.0})


def test_nothing_drawn_gives_no_lag_rather_than_zero():
    figures = view_figures({"received": [1.0], "sent": [1.0], "frames": []}, start=0.0, end=2.0)
    assert figures["lag_received_ms"]["p99"] is None and figures["undrawn"] == 1 and figures["frames_per_s"] == 0
