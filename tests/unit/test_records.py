"""The task argument rules and the shape of the result record."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta

import pytest

from worker.burn import burn_cpu
from worker.records import MAX_DURATION_S, JobRecord, check_duration, check_fail, check_kind, iso, utc_now


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
    with pytest.raises(ValueError, match="always, once, crash or null"):
        check_fail("sometimes")


def test_kind_must_be_known():
    assert check_kind("cpu") == "cpu"
    with pytest.raises(ValueError, match="sleep, cpu"):
        check_kind("io")


def test_iso_keeps_microseconds_and_utc_offset():
    moment = datetime(2026, 11, 24, 19, 22, 43, 5, tzinfo=UTC)
    assert iso(moment) == "2026-11-24T19:22:43.000005+00:00"


START = datetime(2026, 11, 24, 19, 22, 43, 644370, tzinfo=UTC)


def a_record(**changes) -> JobRecord:
    fields = dict(task="task1", task_id="abc", kind="sleep", duration_s=1.0, worker="worker@h", hostname="h", pid=8,
                  slot="8", pool="prefork", cpus=2.0, machine="m1", started_at=START,
                  finished_at=START + timedelta(seconds=1), runtime_s=1.0000004, cpu_s=0.0001234567)
    return JobRecord(**{**fields, **changes})


def test_record_json_says_who_where_and_when():
    assert a_record().to_json() == {
        "task": "task1", "task_id": "abc", "kind": "sleep", "duration_s": 1.0, "worker": "worker@h", "hostname": "h",
        "pid": 8, "slot": "8", "pool": "prefork", "cpus": 2.0, "machine": "m1",
        "started_at": "2026-11-24T19:22:43.644370+00:00", "finished_at": "2026-11-24T19:22:44.644370+00:00",
        "runtime_s": 1.0, "cpu_s": 0.000123, "attempt": 1, "redelivered": False,
    }


def test_record_survives_a_json_round_trip():
    record = a_record(runtime_s=1.25, cpu_s=0.5, attempt=2, redelivered=True)
    data = json.loads(json.dumps(record.to_json()))
    assert JobRecord.from_json(data) == record
    assert JobRecord.from_json(data).started_at.tzinfo is not None


@pytest.mark.parametrize("junk", [
    {},
    {"task": "task1"},
    "not a record",
    None,
    [1, 2],
    {**a_record().to_json(), "started_at": None},
    {**a_record().to_json(), "colour": "red"},
    {k: v for k, v in a_record().to_json().items() if k != "pid"},
])
def test_anything_else_is_not_a_result_record(junk):
    with pytest.raises(ValueError, match="not a result record"):
        JobRecord.from_json(junk)


def test_a_bad_timestamp_is_a_value_error_too():
    with pytest.raises(ValueError):
        JobRecord.from_json({**a_record().to_json(), "finished_at": "yesterday"})


def test_shifted_moves_both_timestamps_and_nothing_else():
    record = a_record()
    moved = record.shifted(-1.5)
    assert moved.started_at == START - timedelta(seconds=1.5)
    assert moved.finished_at == START + timedelta(seconds=-0.5)
    assert moved.runtime_s == record.runtime_s and moved.task_id == record.task_id
    assert record.started_at == START  # frozen: the original is unchanged
    assert record.shifted(0) == record


def test_slot_key_and_stretch():
    assert a_record(hostname="c1", pid=9, slot="t42").slot_key == ("c1", 9, "t42")
    assert a_record(runtime_s=1.5, duration_s=0.5).stretch == 3.0
    assert a_record(runtime_s=0.5, duration_s=0.0).stretch is None


def test_cpu_burn_spends_that_much_cpu_time():
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    burn_cpu(0.2)
    cpu = time.thread_time() - cpu0
    wall = time.perf_counter() - wall0
    assert 0.2 <= cpu < 0.3  # its own CPU time, whatever else the machine is doing
    assert wall >= 0.2  # and not less wall time than that


def test_utc_now_is_aware_and_in_utc():
    assert utc_now().utcoffset() == timedelta(0)
