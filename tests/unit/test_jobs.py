"""The plan of a batch (which jobs, which fail) and what an outcome says about a job."""

from __future__ import annotations

import pytest

from producer.jobs import STATUSES, Job, picked, plan
from tests.unit.builders import outcome, record


def test_plan_alternates_tasks_like_the_course_page():
    assert [j.task for j in plan(5, 1.0)] == ["task1", "task2", "task1", "task2", "task1"]
    assert [j.task for j in plan(3, 1.0, tasks=("task2",))] == ["task2"] * 3
    assert plan(0, 1.0) == []


def test_plan_passes_duration_kind_and_queue_on():
    assert plan(2, 0.5, "cpu", "jobs-threads") == [Job("task1", 0.5, "cpu", "jobs-threads"),
                                                    Job("task2", 0.5, "cpu", "jobs-threads")]


def test_plan_fails_nothing_unless_asked():
    assert [j.fail for j in plan(8, 1.0)] == [None] * 8
    assert [j.fail for j in plan(8, 1.0, fail_rate=0.0, flaky_rate=0.0)] == [None] * 8


def test_rate_one_picks_every_job():
    assert [j.fail for j in plan(4, 1.0, fail_rate=1.0)] == ["always"] * 4
    assert [j.fail for j in plan(4, 1.0, flaky_rate=1.0)] == ["once"] * 4
    assert [j.fail for j in plan(4, 1.0, fail_rate=1.0, flaky_rate=1.0)] == ["always"] * 4  # failing wins


def test_quarter_rates_pick_different_jobs_evenly():
    jobs = plan(8, 1.0, fail_rate=0.25, flaky_rate=0.25)
    # failing: every fourth job; flaky: a quarter of the six others (one, rounding down)
    assert [j.fail for j in jobs] == [None, None, None, "always", "once", None, None, "always"]
    assert jobs[3].kwargs == {"duration": 1.0, "kind": "sleep", "fail": "always"}
    assert jobs[4].kwargs == {"duration": 1.0, "kind": "sleep", "fail": "once"}
    assert jobs[0].kwargs == {"duration": 1.0, "kind": "sleep"}


def test_half_flaky_and_quarter_failing():
    jobs = plan(8, 1.0, fail_rate=0.25, flaky_rate=0.5)
    assert [j.fail for j in jobs] == [None, "once", None, "always", "once", None, "once", "always"]


def test_flaky_jobs_are_found_among_the_others_even_when_half_fail():
    jobs = plan(8, 1.0, fail_rate=0.5, flaky_rate=0.25)
    assert [j.fail for j in jobs] == [None, "always", None, "always", None, "always", "once", "always"]


@pytest.mark.parametrize("rate, phase, expected", [
    (0.0, 0.0, []),
    (0.0, 0.5, []),
    (1.0, 0.0, list(range(8))),
    (0.25, 0.0, [3, 7]),
    (0.25, 0.5, [1, 5]),
    (0.5, 0.0, [1, 3, 5, 7]),
    (0.5, 0.5, [0, 2, 4, 6]),
    (0.3, 0.0, [3, 6]),
])
def test_picked_spreads_a_share_over_the_batch(rate, phase, expected):
    assert [i for i in range(8) if picked(i, rate, phase)] == expected


def test_picked_defaults_to_no_phase():
    assert picked(3, 0.25) and not picked(1, 0.25)


def test_job_kwargs_are_json_arguments():
    assert Job("task2", 2.5, "cpu").kwargs == {"duration": 2.5, "kind": "cpu"}
    assert Job("task1", 1.0, fail="once").kwargs == {"duration": 1.0, "kind": "sleep", "fail": "once"}
    assert (Job("task1", 1.0).queue, Job("task1", 1.0).kind, Job("task1", 1.0).fail) == ("jobs", "sleep", None)


def test_statuses():
    assert STATUSES == ("SUCCESS", "FAILURE", "PENDING", "WITHDRAWN")


def test_outcome_json_is_the_record_plus_the_producers_view():
    rec = record(0.01, 1.01, task_id="id-1", hostname="h1")
    data = outcome(rec, submitted=0.0, received=1.012).as_json()
    assert data == {**rec.to_json(), "submitted_at": "2026-11-24T19:00:00.000000+00:00",
                    "received_at": "2026-11-24T19:00:01.012000+00:00", "status": "SUCCESS"}
    assert outcome(rec).ran and not outcome().ran


def test_outcome_json_without_a_record():
    data = outcome(None, task="task2", task_id="id-9", status="FAILURE", error="ValueError: bad").as_json()
    assert data == {"task": "task2", "task_id": "id-9", "submitted_at": "2026-11-24T19:00:00.000000+00:00",
                    "status": "FAILURE", "error": "ValueError: bad"}
    assert outcome(None, task_id="id-8").as_json() == {
        "task": "task1", "task_id": "id-8", "submitted_at": "2026-11-24T19:00:00.000000+00:00", "status": "PENDING"}


def test_outcome_json_of_a_failed_job_that_ran_keeps_its_record_and_error():
    rec = record(0.0, 1.0, task_id="id-2")
    data = outcome(rec, status="FAILURE", error="JobFailed: asked", received=1.5).as_json()
    assert data["worker"] == "worker@h1" and data["error"] == "JobFailed: asked" and data["status"] == "FAILURE"


def test_plan_submits_to_the_jobs_queue_by_default():
    assert {j.queue for j in plan(3, 1.0)} == {"jobs"} and {j.kind for j in plan(3, 1.0)} == {"sleep"}
