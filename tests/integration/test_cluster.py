"""The producer against real workers and a real Redis on loopback."""

from __future__ import annotations

import itertools
import time
from datetime import datetime

import pytest

from tests.conftest import free_port
from tests.helpers import Background, run_producer

pytestmark = pytest.mark.integration

RECORD_KEYS = {"task", "task_id", "kind", "worker", "hostname", "pid", "started_at", "finished_at", "runtime_s",
               "attempt", "redelivered", "submitted_at", "received_at", "status"}
SUMMARY_KEYS = {"jobs", "succeeded", "failed", "workers_used", "slots_online", "peak_overlap", "redelivered",
                "retried", "duration_s", "wall_s",
                "sequential_s", "ideal_wall_s", "speedup", "efficiency", "verdict"}


def intervals(results: list[dict]) -> list[tuple[datetime, datetime]]:
    return sorted((datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"])) for r in results)


def test_two_workers_share_four_jobs_in_parallel(start_workers, redis_env):
    workers = start_workers(2)
    run = run_producer("--jobs", "4", "--duration", "0.5", "--json", env=redis_env)
    assert run.returncode == 0, run.stderr
    results, summary = run.document["results"], run.document["summary"]
    assert len(results) == 4 and all(r["status"] == "SUCCESS" for r in results)
    assert {r["worker"] for r in results} == set(workers.names)
    assert summary["slots_online"] == 2 and summary["workers_used"] == 2 and summary["peak_overlap"] == 2
    assert summary["sequential_s"] == pytest.approx(2.0, abs=0.2)
    assert summary["wall_s"] < 0.8 * summary["sequential_s"]  # well under one after another (ideal: 1.0 s)
    assert summary["verdict"].startswith("ran in parallel on 2 workers")


def test_one_worker_runs_jobs_one_after_another(start_workers, redis_env):
    start_workers(1)
    run = run_producer("--jobs", "4", "--duration", "0.2", "--json", env=redis_env)
    assert run.returncode == 0, run.stderr
    spans = intervals(run.document["results"])
    assert len(spans) == 4
    for (_, finished), (started, _) in itertools.pairwise(spans):
        assert started >= finished  # the next job starts only after the previous one finished
    assert run.document["summary"]["verdict"] == "ran one after another"


def test_json_is_complete_and_consistent(start_workers, redis_env):
    start_workers(1)
    run = run_producer("--jobs", "3", "--duration", "0.1", "--json", env=redis_env)
    assert run.returncode == 0, run.stderr
    doc = run.document
    assert set(doc) == {"results", "summary"} and set(doc["summary"]) == SUMMARY_KEYS
    assert [r["task"] for r in doc["results"]] == ["task1", "task2", "task1"]
    assert len({r["task_id"] for r in doc["results"]}) == 3
    for r in doc["results"]:
        assert set(r) == RECORD_KEYS
        submitted, started, finished, received = (
            datetime.fromisoformat(r[k]) for k in ("submitted_at", "started_at", "finished_at", "received_at"))
        assert submitted <= started < finished <= received
        assert (finished - started).total_seconds() == pytest.approx(r["runtime_s"], abs=0.01)
        assert r["runtime_s"] >= 0.1 and r["attempt"] == 1 and r["redelivered"] is False


def test_text_report_reads_like_the_course_page(start_workers, redis_env):
    start_workers(2)
    run = run_producer("--duration", "0.3", env=redis_env)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sorted(line.split()[0] for line in lines if " finished at " in line) == ["task1", "task2"]
    assert "ran in parallel on 2 workers" in run.stdout


def test_a_job_that_does_not_finish_in_time_is_named(start_workers, redis_env):
    start_workers(1)
    run = run_producer("--jobs", "2", "--duration", "1.5", "--timeout", "1", "--json", env=redis_env)
    assert run.returncode == 1
    statuses = sorted(r["status"] for r in run.document["results"])
    assert statuses == ["PENDING", "PENDING"] or statuses == ["PENDING", "SUCCESS"]
    missing = [r for r in run.document["results"] if r["status"] == "PENDING"]
    for r in missing:
        assert r["task_id"] in run.stderr and "did not finish within 1 s" in r["error"]


def test_a_queue_nobody_consumes_is_refused_before_submitting(start_workers, redis_env, redis_server):
    start_workers(1, queue="jobs")
    started = time.monotonic()
    run = run_producer("--queue", "nobody-listens", env={**redis_env, "WORKER_WAIT": "2"})
    assert 2 <= time.monotonic() - started < 15  # it waited WORKER_WAIT for a worker, then gave up
    assert run.returncode == 4
    assert run.stderr.startswith(
        "producer: error: no worker consumes queue 'nobody-listens' (queues with workers: jobs)")
    assert run.stderr.count("\n") == 1
    assert redis_server.client().llen("nobody-listens") == 0  # nothing was left waiting


def test_failures_are_reported_and_transient_errors_retried(start_workers, redis_env):
    start_workers(2)
    run = run_producer("--jobs", "4", "--duration", "0.1", "--fail-rate", "0.25", "--flaky-rate", "0.5", "--json",
                       env=redis_env)
    assert run.returncode == 1
    results = run.document["results"]
    assert [r["status"] for r in results] == ["SUCCESS", "SUCCESS", "SUCCESS", "FAILURE"]
    assert results[3]["error"] == "JobFailed: task2 was asked to fail (attempt 1)"
    assert results[3]["task_id"] in run.stderr
    assert results[1]["attempt"] == 2 and results[0]["attempt"] == results[2]["attempt"] == 1
    summary = run.document["summary"]
    assert summary["failed"] == 1 and summary["retried"] == 1 and summary["succeeded"] == 3


def test_a_task_given_bad_arguments_fails_with_a_clear_message(start_workers):
    workers = start_workers(1)
    result = workers.app.send_task("task1", kwargs={"duration": "soon"}, queue="jobs")
    with pytest.raises(ValueError, match="duration must be a number of seconds, got 'soon'"):
        result.get(timeout=10)
    extra = workers.app.send_task("task2", kwargs={"duration": 0, "colour": "red"}, queue="jobs")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        extra.get(timeout=10)


def test_a_dead_broker_is_reported_within_seconds():
    port = free_port()  # nothing listens there
    env = {"BROKER_URL": f"redis://:s3cret@127.0.0.1:{port}/0", "RESULT_BACKEND": f"redis://:s3cret@127.0.0.1:{port}/1"}
    started = time.monotonic()
    run = run_producer("--jobs", "2", env=env, timeout_s=30)
    assert time.monotonic() - started < 10
    assert run.returncode == 3
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert f"redis://:**@127.0.0.1:{port}/0" in run.stderr and "s3cret" not in run.stderr


def test_a_wrong_password_is_reported(redis_server):
    env = {"BROKER_URL": redis_server.url(0, password="wrong"), "RESULT_BACKEND": redis_server.url(1, "wrong")}
    run = run_producer(env=env, timeout_s=30)
    assert run.returncode == 3
    assert "refused the password" in run.stderr and "wrong" not in run.stderr


def test_the_producer_waits_for_a_worker_that_is_still_starting(start_workers, redis_env):
    producer = Background("--jobs", "2", "--duration", "0.1", "--json", env={**redis_env, "WORKER_WAIT": "30"})
    start_workers(1)  # the producer is already waiting when this worker comes up
    run = producer.finish(timeout_s=60)
    assert run.returncode == 0, run.stderr
    assert [r["status"] for r in run.document["results"]] == ["SUCCESS", "SUCCESS"]
