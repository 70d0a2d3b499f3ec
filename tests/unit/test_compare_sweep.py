"""The words of the comparison and the steps of the sweep."""

from __future__ import annotations

import time

import pytest

from producer.flavours import flavours, one_after_another, verdict
from producer.scaling import steps


@pytest.mark.parametrize(
    "pool, speedup, peak, words",
    [
        ("processes", 3.9, 4, "parallel"),
        ("processes", 1.5, 2, "parallel"),
        ("processes", 1.49, 4, "parallel, but fewer cores than jobs"),
        ("processes", None, 4, "parallel, but fewer cores than jobs"),
        ("threads", 3.9, 4, "concurrent: the waits overlap"),
        ("gevent", 1.5, 4, "concurrent: the waits overlap"),
        ("threads", 1.0, 4, "taking turns: one runs Python at a time (GIL)"),
        ("threads", None, 2, "taking turns: one runs Python at a time (GIL)"),
        ("gevent", 0.9, 1, "one after another: greenlets switch only while waiting"),
        ("gevent", None, 0, "one after another: greenlets switch only while waiting"),
        ("threads", 0.9, 1, "one after another"),
        ("processes", 3.9, 1, "one after another"),
    ],
)
def test_verdict_in_the_course_pages_words(pool, speedup, peak, words):
    assert verdict(pool, speedup, peak) == words


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
