"""The producer against real workers and a real Redis on loopback."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest
from celery import Celery

from cluster.workers import listening_nodes, online_workers
from devcluster.redis_server import free_port
from tests.helpers import ROOT, Background, run_producer, wait_for

pytestmark = pytest.mark.integration

RECORD_KEYS = {"task", "task_id", "kind", "duration_s", "worker", "hostname", "pid", "slot", "pool", "cpus", "machine",
               "started_at", "finished_at", "runtime_s", "cpu_s", "attempt", "redelivered", "submitted_at", "runs",
               "received_at", "status"}
SUMMARY_KEYS = {"jobs", "succeeded", "failed", "withdrawn", "kind", "duration_s", "wall_s", "work_s", "slots_used",
                "processes_used", "workers_used", "pools", "slots_online", "cpus", "parallel_limit", "ideal_wall_s",
                "speedup", "efficiency", "peak_overlap", "stretch_median", "stretch_max", "cpu_s", "redelivered",
                "retried", "queued_ahead", "clock_offsets_s", "waited_for_cup_s", "peak_drinking", "verdict", "notes",
                "duplicates", "runs", "resubmitted", "run_list_gaps", "fenced_running", "unfinished", "cancelled",
                "retry_wait_s", "queued_while_idle_s"}


def intervals(results: list[dict]) -> list[tuple[datetime, datetime]]:
    return sorted((datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"])) for r in results)


def test_two_workers_share_four_jobs_in_parallel(start_workers, redis_env):
    workers = start_workers(2)
    run = run_producer("--jobs", "4", "--duration", "0.5", "--json", env=redis_env)
    assert run.returncode == 0, run.stderr
    results, summary = run.document["results"], run.document["summary"]
    assert len(results) == 4 and all(r["status"] == "SUCCESS" for r in results)
    assert {r["worker"] for r in results} == set(workers.names)
    assert summary["slots_online"] == 2 and summary["slots_used"] == 2 and summary["peak_overlap"] == 2
    assert summary["work_s"] == 2.0  # the asked durations, not the measured ones
    assert summary["wall_s"] < 0.8 * summary["work_s"]  # well under one after another (ideal: 1.0 s)
    assert summary["speedup"] == pytest.approx(summary["work_s"] / summary["wall_s"], abs=0.002)
    assert summary["verdict"].startswith("ran in parallel on 2 slots")


def test_asking_who_listens_ends_with_the_last_bound_workers_answer(start_workers, redis_env):
    workers = start_workers(2)
    app = Celery(broker=redis_env["BROKER_URL"], backend=redis_env["RESULT_BACKEND"])
    try:
        assert listening_nodes(app) == 2  # each worker's remote-control queue, bound to the broadcast
        started = time.monotonic()
        found = online_workers(app, timeout_s=5)
        took = time.monotonic() - started
    finally:
        app.close()
    assert sorted(w.name for w in found) == sorted(workers.names)
    assert took < 2.5, took  # not the 5 s a broadcast waits after the last answer in case more come


def test_one_worker_runs_jobs_one_after_another(start_workers, redis_env):
    start_workers(1)
    run = run_producer("--jobs", "4", "--duration", "0.2", "--json", env=redis_env)
    assert run.returncode == 0, run.stderr
    spans = intervals(run.document["results"])
    assert len(spans) == 4
    for (_, finished), (started, _) in itertools.pairwise(spans):
        assert started >= finished  # the next job starts only after the previous one finished
    assert run.document["summary"]["verdict"].startswith("ran one after another")


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
        assert r["pool"] == "prefork" and r["slot"] == str(r["pid"]) and r["cpus"] >= 1 and r["duration_s"] == 0.1
        assert 0 <= r["cpu_s"] < 0.05  # a sleeping job uses next to no CPU


def test_text_report_reads_like_the_course_page(start_workers, redis_env):
    start_workers(2)
    run = run_producer("--duration", "0.3", env=redis_env)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sorted(line.split()[0] for line in lines if " finished at " in line) == ["task1", "task2"]
    assert "ran in parallel on 2 slots" in run.stdout
    assert all(len(line) <= 80 for line in lines if " finished at " in line)


def test_a_job_that_does_not_finish_in_time_is_named_and_the_rest_withdrawn(start_workers, redis_env, redis_server):
    start_workers(1)
    run = run_producer("--jobs", "2", "--duration", "1.5", "--timeout", "1", "--json", env=redis_env)
    assert run.returncode == 1
    first, second = run.document["results"]
    assert first["status"] == "PENDING" and "did not finish within 1 s" in first["error"]  # running: it finishes
    assert second["status"] == "WITHDRAWN"  # queued behind it: taken back
    assert first["task_id"] in run.stderr and "withdrew 1 jobs that had not started" in run.stderr
    assert redis_server.client().llen("jobs") == 0
    assert run.document["summary"]["withdrawn"] == 1


def test_a_queue_nobody_consumes_is_refused_before_submitting(start_workers, redis_env, redis_server):
    start_workers(1, queue="jobs")
    started = time.monotonic()
    run = run_producer("--queue", "nobody-listens", env={**redis_env, "WORKER_WAIT": "2"})
    assert 2 <= time.monotonic() - started < 15  # it waited WORKER_WAIT for a worker, then gave up
    assert run.returncode == 4
    waiting, error = run.stderr.splitlines()  # it says it waits, then why it gave up
    assert waiting.startswith("waiting up to 2 s for a worker on queue 'nobody-listens'")
    assert error.startswith("producer: error: no worker consumes queue 'nobody-listens' (queues with workers: jobs)")
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
    # job 3 fails for good; half of the three others (job 1) fails once
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


def test_four_processes_of_one_worker_run_in_parallel(start_workers, redis_env):
    start_workers(1, concurrency=4)  # WORKER_CONCURRENCY=4 in one container
    run = run_producer("--jobs", "4", "--duration", "0.6", "--json", env=redis_env)
    assert run.returncode == 0, run.stderr
    summary = run.document["summary"]
    assert summary["workers_used"] == 1 and summary["slots_used"] == 4 and summary["processes_used"] == 4
    assert summary["verdict"].startswith("ran in parallel on 4 slots")


def test_cpu_jobs_never_claim_more_speedup_than_cpus(start_workers, redis_env):
    start_workers(4)
    run = run_producer("--jobs", "4", "--duration", "0.5", "--kind", "cpu", "--json", env=redis_env, timeout_s=90)
    assert run.returncode == 0, run.stderr
    summary = run.document["summary"]
    cpus = summary["cpus"]
    assert cpus == len(os.sched_getaffinity(0))
    assert summary["speedup"] <= min(4, cpus) * 1.05  # work is what was asked, however long each job stretched
    if cpus < 4:
        assert summary["parallel_limit"] == cpus
        assert any(f"sharing {cpus:g} CPUs: at best {int(cpus)}x" in note for note in summary["notes"])
        assert summary["stretch_max"] > 1.3  # four jobs took turns on fewer cores


def test_jobs_shorter_than_their_overhead_are_called_slower(start_workers, redis_env):
    start_workers(2)
    run = run_producer("--jobs", "100", "--duration", "0.001", "--json", env=redis_env)
    assert run.returncode == 0, run.stderr
    summary = run.document["summary"]
    assert summary["speedup"] < 1
    assert "slower than one after another" in summary["verdict"] and "faster" not in summary["verdict"]
    assert any("shorter than its overhead" in note for note in summary["notes"])


def test_ctrl_c_withdraws_the_queued_jobs_and_the_next_run_is_clean(start_workers, redis_env, redis_server):
    start_workers(2)
    producer = Background("--jobs", "40", "--duration", "2", env=redis_env)
    wait_for(lambda: redis_server.client().llen("jobs") >= 30, 20, "the jobs to be queued")
    producer.proc.send_signal(signal.SIGINT)
    run = producer.finish(timeout_s=30)
    assert run.returncode == 130, run.stderr
    assert "producer: interrupted: withdrew 3" in run.stderr and "Traceback" not in run.stderr
    said = run.stderr.splitlines()[-1]  # every job accounted for: withdrawn, finished (before or after), running
    counts = re.findall(r"(\d+) (?:jobs that had not started|had finished|taken by)", said)
    assert sum(int(n) for n in counts) == 40, said
    wait_for(lambda: redis_server.client().llen("jobs") == 0, 5, "an empty queue")
    # the jobs the interrupted run's workers had started run to their end (2 s at most)
    wait_for(lambda: redis_server.client().hlen("unacked") == 0, 10, "the running jobs to end")
    after = run_producer("--jobs", "4", "--json", env=redis_env, timeout_s=60)
    assert after.returncode == 0, after.stderr
    assert after.document["summary"]["queued_ahead"] == 0
    assert after.document["summary"]["efficiency"] >= 0.85


def test_jobs_left_in_the_queue_are_named_before_submitting(start_workers, redis_env, redis_server):
    workers = start_workers(1)
    # one long job runs, three short ones wait behind it: longer than the producer takes to start,
    # however busy the machine
    workers.app.send_task("task1", kwargs={"duration": 5}, queue="jobs")
    for _ in range(3):
        workers.app.send_task("task1", kwargs={"duration": 0.1}, queue="jobs")
    run = run_producer("--jobs", "1", "--duration", "0.1", "--json", env=redis_env)
    assert run.returncode == 0, run.stderr
    assert "jobs from an earlier run are queued ahead of yours: python -m producer purge" in run.stderr
    summary = run.document["summary"]
    assert summary["queued_ahead"] >= 2 and any("queued ahead of these" in note for note in summary["notes"])


def test_status_shows_redis_workers_and_queues_and_purge_empties_them(start_workers, redis_env, redis_server):
    workers = start_workers(1, concurrency=2)
    workers.app.control.cancel_consumer("jobs", destination=workers.names, reply=True, timeout=5)
    for _ in range(5):
        workers.app.send_task("task1", kwargs={"duration": 0}, queue="jobs")
    status = run_producer("status", env=redis_env)
    assert status.returncode == 0, status.stderr
    assert f"127.0.0.1:{redis_server.port}" in status.stdout and redis_server.password not in status.stdout
    assert workers.names[0] in status.stdout and "prefork" in status.stdout
    assert "queue jobs: 5 waiting" in status.stdout
    refused = run_producer("purge", env=redis_env)  # not on a terminal: it cannot ask
    assert refused.returncode == 2 and "purge --yes" in refused.stderr
    assert redis_server.client().llen("jobs") == 5
    purged = run_producer("purge", "--yes", env=redis_env)
    assert purged.returncode == 0 and "removed 5 jobs" in purged.stdout
    assert redis_server.client().llen("jobs") == 0


def test_redis_host_port_and_password_are_enough(start_workers, redis_server, redis_env):
    start_workers(1)
    env = {"BROKER_URL": "", "RESULT_BACKEND": "", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis_server.port),
           "REDIS_PASSWORD": redis_server.password}
    run = run_producer("--jobs", "1", "--duration", "0", "--json", env=env)
    assert run.returncode == 0, run.stderr
    only_broker = run_producer("--jobs", "1", "--duration", "0", "--json",
                               env={"BROKER_URL": redis_env["BROKER_URL"], "RESULT_BACKEND": ""})
    assert only_broker.returncode == 0, only_broker.stderr  # the result backend follows the broker (db 1)


@pytest.mark.parametrize("name, value", [("BROKER_TIMEOUT", "abc"), ("VISIBILITY_TIMEOUT", "abc"),
                                         ("REDIS_PORT", "-1"), ("WORKER_WAIT", "nan")])
def test_a_bad_setting_is_one_line_and_exit_2(name, value):
    run = run_producer("--jobs", "1", env={name: value}, timeout_s=30)
    assert run.returncode == 2
    assert run.stderr.startswith(f"producer: error: {name}=") and run.stderr.count("\n") == 1, run.stderr


def test_a_worker_with_a_bad_setting_says_so_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "celery", "-A", "worker", "worker"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "VISIBILITY_TIMEOUT": "abc"})
    assert proc.returncode != 0
    assert proc.stderr.strip() == "celery: error: VISIBILITY_TIMEOUT='abc': must be a whole number of at least 1"


def test_a_trace_splits_each_wait_where_the_worker_took_the_job_off_the_queue(start_workers, redis_env, tmp_path):
    start_workers(1)  # one process, prefetch 1: it takes the next job only when it acknowledged the last
    path = tmp_path / "run.json"
    run = run_producer("--jobs", "3", "--duration", "0.4", "--no-live", "--no-timeline", "--trace", str(path),
                       env=redis_env)
    assert run.returncode == 0, run.stderr
    events = json.loads(path.read_text())["traceEvents"]
    jobs = sorted((e for e in events if e["ph"] == "X"), key=lambda e: e["ts"])
    assert len(jobs) == 3 and all("reserved_s" in e["args"] for e in jobs)  # the events were followed, off a terminal
    received = {e["id"]: e["ts"] for e in events if e["ph"] == "e" and e["name"] == "queued"}
    assert set(received) == {e["args"]["task_id"] for e in jobs}
    for before, job in itertools.pairwise(jobs):  # each stayed in Redis while the one process ran the one before
        assert received[job["args"]["task_id"]] >= before["ts"] + before["dur"] - 50_000
        assert job["args"]["reserved_s"] < 0.2 and job["args"]["queued_s"] >= 0.3
    assert not [e for e in events if e["ph"] == "X" and e["name"].endswith("(lost)")]
