"""The pipelined submit's flush schedule: one job first, then doubling up to FLUSH_MAX."""

from __future__ import annotations

import itertools

from producer.submit import FLUSH_MAX, flush_sizes


def test_the_first_job_goes_alone_then_each_flush_doubles_up_to_the_cap():
    sizes = list(itertools.islice(flush_sizes(), 12))
    assert sizes[:8] == [1, 2, 4, 8, 16, 32, 64, 128] and FLUSH_MAX == 128
    assert sizes[8:] == [FLUSH_MAX] * 4


def test_256_jobs_take_nine_round_trips():
    due, flushes = 0, 0
    for size in flush_sizes():
        if due >= 256:
            break
        due, flushes = due + size, flushes + 1
    assert flushes == 9
