"""The words of the comparison and the steps of the sweep."""

from __future__ import annotations

import time

import pytest

from producer.experiments.compare import flavours, one_after_another
from producer.experiments.sweep import steps
from producer.figures import judge
from tests.unit.builders import made_up


@pytest.mark.parametrize(
    "kind, pool, slots, speedup, peak, words",
    [
        ("sleep", "prefork", 4, 3.9, 4, "parallel"),
        ("sleep", "prefork", 2, 1.98, 2, "parallel"),
        ("cpu", "prefork", 4, 1.78, 4, "parallel, but 4 cpu jobs share 2 CPUs"),
        ("sleep", "threads", 4, 3.9, 4, "concurrent: the waits overlap"),
        ("sleep", "gevent", 4, 3.9, 4, "concurrent: the waits overlap"),
        ("cpu", "threads", 4, 0.94, 4, "concurrent, but one thread runs Python at a time (the GIL)"),
        ("cpu", "gevent", 4, 0.97, 1,
         "one after another: greenlets switch only while they wait, and cpu jobs never wait"),
    ],
)
def test_compare_s_words_are_the_one_verdict_s(kind, pool, slots, speedup, peak, words):
    assert judge(made_up(kind=kind, pool=pool, slots=slots, speedup=speedup, peak=peak)).short == words


def test_flavour_queues_derive_from_the_main_queue():
    assert [(f.pool, f.queue) for f in flavours("jobs")] == [
        ("processes", "jobs"), ("threads", "jobs-threads"), ("gevent", "jobs-gevent")]
    assert [f.queue for f in flavours("q")] == ["q", "q-threads", "q-gevent"]


def test_steps_cover_small_clusters_fully_and_large_ones_by_doubling():
    assert steps(1) == [1]
    assert steps(4) == [1, 2, 3, 4]
    assert steps(8) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert steps(9) == [1, 2, 4, 8, 9]
    assert steps(12) == [1, 2, 4, 8, 12]
    assert steps(16) == [1, 2, 4, 8, 16]
    assert steps(32) == [1, 2, 4, 8, 16, 32]


def test_the_baseline_runs_jobs_one_after_another():
    started = time.perf_counter()
    wall = one_after_another(3, 0.05, "sleep")
    assert 0.15 <= wall <= time.perf_counter() - started


def test_flavours_with_different_slots_are_said_to_differ_by_slots_not_by_speed():
    from producer.experiments.compare import Row, slots_note

    def row(pool, slots, speedup):
        s = made_up(pool=pool, slots=slots, speedup=speedup)
        return Row("sleep", pool, slots, s.wall_s, s.speedup, s.peak_overlap, "", summary=s)

    rows = [Row("sleep", "one after another", 1, 4.0, 1.0, 1, "the course page's loop"),
            row("processes", 2, 1.98), row("threads", 4, 3.9), row("gevent", 4, 3.9)]
    note = slots_note(rows)
    assert note.startswith("slots differ (processes 2, threads 4, gevent 4): more slots give more speedup")
    assert "WORKERS=4" in note
    assert rows[1].efficiency == rows[1].summary.efficiency and rows[1].efficiency > 0.9  # processes at their best
    assert slots_note([rows[0], row("processes", 4, 3.9), row("threads", 4, 3.9)]) == ""
