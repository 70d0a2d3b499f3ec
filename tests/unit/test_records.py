"""The task argument rules and the shape of the result record."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import pytest

from worker.burn import burn_cpu
from worker.records import MAX_DURATION_S, check_duration, check_fail, check_kind, iso, make_record


@pytest.mark.parametrize("value", [0, 0.5, 1, 3600, 3600.0])
def test_valid_durations_pass_as_float(value):
    assert check_duration(value) == float(value)
    assert isinstance(check_duration(value), float)


@pytest.mark.parametrize(
    "value, message",
    [
        (-0.1, "between 0 and 3600"),
        (MAX_DURATION_S + 1, "between 0 and 3600"),
        (math.inf, "between 0 and 3600"),
        (math.nan, "between 0 and 3600"),
        ("1", "must be a number"),
        (None, "must be a number"),
        (True, "must be a number"),
        ([1], "must be a number"),
    ],
)
def test_invalid_durations_say_what_is_wrong(value, message):
    with pytest.raises(ValueError, match=message):
        check_duration(value)


def test_fail_mode_must_be_known():
    assert check_fail(None) is None and check_fail("once") == "once"
    with pytest.raises(ValueError, match="always, once or null"):
        check_fail("sometimes")


def test_kind_must_be_known():
    assert check_kind("cpu") == "cpu"
    with pytest.raises(ValueError, match="sleep, cpu"):
        check_kind("io")


def test_iso_keeps_microseconds_and_utc_offset():
    moment = datetime(2026, 11, 24, 19, 22, 43, 5, tzinfo=UTC)
    assert iso(moment) == "2026-11-24T19:22:43.000005+00:00"


def test_record_has_who_and_when():
    start = datetime(2026, 11, 24, 19, 22, 43, 644370, tzinfo=UTC)
    record = make_record(
        task="task1", task_id="abc", kind="sleep", worker="worker@h", hostname="h", pid=8,
        started_at=start, finished_at=start + timedelta(seconds=1), runtime_s=1.0000004,
    )
    assert record == {
        "task": "task1", "task_id": "abc", "kind": "sleep", "worker": "worker@h", "hostname": "h", "pid": 8,
        "started_at": "2026-11-24T19:22:43.644370+00:00", "finished_at": "2026-11-24T19:22:44.644370+00:00",
        "runtime_s": 1.0, "attempt": 1, "redelivered": False,
    }


def test_cpu_burn_spends_exactly_that_much_cpu_time():
    wall0, cpu0 = time.perf_counter(), time.thread_time()  # wall brackets cpu
    burn_cpu(0.2)
    cpu = time.thread_time() - cpu0
    wall = time.perf_counter() - wall0
    assert 0.2 <= cpu < 0.3  # its own CPU time, whatever else the machine is doing
    assert wall >= cpu  # and it did not just wait
