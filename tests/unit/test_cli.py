"""Bad arguments: one line on stderr, exit 2, before anything touches the network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from producer.cli import default_timeout, main
from producer.report import job_line, json_document
from producer.submit import Batch, Job, Outcome, plan


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--jobs", "0"], "--jobs"),
        (["--jobs", "-3"], "--jobs"),
        (["--jobs", "abc"], "--jobs"),
        (["--jobs", "1000001"], "--jobs"),
        (["--duration", "-1"], "--duration"),
        (["--duration", "nan"], "--duration"),
        (["--duration", "99999"], "--duration"),
        (["--duration", "soon"], "--duration"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "nan"], "--timeout"),
        (["--kind", "io"], "--kind"),
        (["--task", "task3"], "--task"),
        (["--fail-rate", "1.5"], "--fail-rate"),
        (["--flaky-rate", "-0.1"], "--flaky-rate"),
        (["--queue", " "], "--queue"),
        (["--frobnicate"], "--frobnicate"),
        (["compare-all"], "compare-all"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("producer: error: ") and err.count("\n") == 1, err
    assert fragment in err
    assert "Traceback" not in err


def test_help_names_the_default_command_and_its_options(capsys):
    for args, expected in ((["--help"], "run --help"), (["run", "--help"], "--jobs")):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 0
        assert expected in capsys.readouterr().out


def test_plan_alternates_tasks_like_the_course_page():
    assert [j.task for j in plan(5, 1.0)] == ["task1", "task2", "task1", "task2", "task1"]
    assert [j.task for j in plan(3, 1.0, tasks=("task2",))] == ["task2"] * 3


def test_plan_spreads_failing_and_flaky_jobs_evenly():
    jobs = plan(8, 1.0, fail_rate=0.25, flaky_rate=0.5)
    assert [j.fail for j in jobs] == [None, "once", None, "always", None, "once", None, "always"]
    assert jobs[3].kwargs == {"duration": 1.0, "kind": "sleep", "fail": "always"}
    assert jobs[0].kwargs == {"duration": 1.0, "kind": "sleep"}
    assert all(j.fail == "always" for j in plan(4, 1.0, fail_rate=1.0))


def test_default_timeout_covers_a_sequential_run():
    assert default_timeout(8, 1.0) > 8.0


def outcome(status: str, **kw) -> Outcome:
    return Outcome(Job("task1", 1.0), "id-1", datetime(2026, 11, 24, 19, 22, 43, 640112, tzinfo=UTC),
                   status=status, **kw)


def test_job_line_reads_like_the_course_page():
    start = datetime(2026, 11, 24, 19, 22, 43, 644370, tzinfo=UTC)
    rec = {"task": "task1", "worker": "celery@a904", "pid": 8, "started_at": start.isoformat(),
           "finished_at": (start + timedelta(seconds=1, microseconds=215)).isoformat(), "runtime_s": 1.000215,
           "attempt": 1, "redelivered": False}
    assert job_line(outcome("SUCCESS", record=rec)) == (
        "task1 finished at 2026-11-24 19:22:44.644585 on celery@a904 (pid 8), started 19:22:43.644370, ran 1.00 s"
    )
    rec2 = {**rec, "attempt": 2, "redelivered": False}
    assert job_line(outcome("SUCCESS", record=rec2)).endswith(
        "ran 1.00 s, attempt 2, retried: started 0.0 s after it was submitted")
    rec3 = {**rec, "started_at": (start + timedelta(seconds=31)).isoformat(), "redelivered": True}
    assert job_line(outcome("SUCCESS", record=rec3)).endswith(
        "attempt 1, redelivered: started 31.0 s after it was submitted")


def test_failed_and_missing_jobs_are_named():
    assert job_line(outcome("FAILURE", error="ValueError: bad")) == "task1 FAILED: ValueError: bad (task id-1)"
    missing = job_line(outcome("PENDING", error="did not finish within 3 s"))
    assert missing == "task1 did not finish: did not finish within 3 s (task id-1)"


def test_json_document_adds_submitted_at_and_status():
    import json

    batch = Batch([outcome("FAILURE", error="ValueError: bad")], wall_s=1.0, submit_s=0.01)
    doc = json.loads(json_document(batch, {"jobs": 1}))
    assert doc["summary"] == {"jobs": 1}
    assert doc["results"] == [{"task": "task1", "task_id": "id-1", "submitted_at": "2026-11-24T19:22:43.640112+00:00",
                               "status": "FAILURE", "error": "ValueError: bad"}]
