"""The recovery service (recovery/service.py) with real processes: killed workers, a paused one,
a job that kills its worker, the service itself restarted. The visibility timeout stays at
its default (an hour), so every quick recovery here is the service's doing."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime

import pytest
from celery import Celery

from cluster.workers import wait_for_workers
from tests.helpers import Background, wait_for, wait_until_busy
from worker.runs import parse

pytestmark = pytest.mark.faults

#: The issue asks for 10 s from kill to start elsewhere (benchmarks measure it); a shared,
#: loaded CI machine gets slack. The backstop, an hour, is what this tells apart.
KILL_TO_START_S = 20


def started_at(result: dict) -> float:
    return datetime.fromisoformat(result["started_at"]).timestamp()


def starts(app: Celery, task_id: str) -> list:
    """Every run of the job, from its own run log (worker.runs)."""
    return parse(app.backend.client.lrange(f"runs:{task_id}", 0, -1))


def test_a_killed_busy_workers_jobs_start_elsewhere_within_seconds(start_workers, redis_env, recovery_service):
    service = recovery_service()
    workers = start_workers(4)
    producer = Background("--jobs", "12", "--duration", "2", "--json", env=redis_env)
    busy = wait_until_busy(workers, 4)
    lost = {busy[workers.names[i]][0]: workers.names[i] for i in (0, 1)}
    killed_at = time.time()
    for i in (0, 1):
        os.killpg(workers.procs[i].pid, signal.SIGKILL)  # worker and its pool, as `docker kill` does
    run = producer.finish()
    assert run.returncode == 0, run.stderr + service.log.read_text()
    results = {r["task_id"]: r for r in run.document["results"]}
    assert len(results) == 12 and all(r["status"] == "SUCCESS" for r in results.values())
    for job, dead in lost.items():
        assert results[job]["redelivered"] is True and results[job]["worker"] != dead
        assert started_at(results[job]) - killed_at < KILL_TO_START_S, service.log.read_text()
    assert run.document["summary"]["redelivered"] == 2 and run.document["summary"]["duplicates"] == 0
    log = service.log.read_text()
    assert all(f"{dead} silent for" in log for dead in lost.values())


def test_a_long_job_on_a_live_worker_runs_once(start_workers, recovery_service):
    recovery_service()
    workers = start_workers(2)
    result = workers.app.send_task("task1", kwargs={"duration": 20}, queue="jobs")
    record = result.get(timeout=60)
    assert record["redelivered"] is False
    assert len(starts(workers.app, result.id)) == 1


def test_a_frozen_worker_is_fenced_its_job_runs_elsewhere_and_it_comes_back(start_workers, recovery_service):
    service = recovery_service()
    workers = start_workers(2)
    result = workers.app.send_task("task1", kwargs={"duration": 4}, queue="jobs")
    (holder,) = wait_until_busy(workers)
    index = workers.names.index(holder)
    # its run on record first (`inspect active` names the job as it goes to the pool process, a
    # moment before that process writes its start): the fence is to end a run the list holds
    wait_for(lambda: starts(workers.app, result.id), 10, "the job's start on record", 0.05)
    os.killpg(workers.procs[index].pid, signal.SIGSTOP)  # as `docker pause`: silent, its connections left open
    try:
        wait_for(lambda: "fenced off" in service.log.read_text(), 30, "the service to fence the frozen worker")
        record = result.get(timeout=60)  # the other worker ran it meanwhile
    finally:
        os.killpg(workers.procs[index].pid, signal.SIGCONT)
    assert record["worker"] != holder and record["redelivered"] is True
    assert f"{holder} silent, its" in service.log.read_text()
    # Thawed, it finds its connections closed, reconnects by itself and answers again.
    wait_for_workers(workers.app, [holder], 60)
    again = [workers.app.send_task("task1", kwargs={"duration": 0.5}, queue="jobs") for _ in range(4)]
    assert holder in {r.get(timeout=30)["worker"] for r in again}  # and takes jobs again
    seen = starts(workers.app, result.id)
    # its first run is on record: cut short by the fence (interrupted, not a death), or, if it
    # finished as it thawed, a second run the producer reports as a duplicate
    assert len(seen) == 2 and seen[0].worker == holder
    assert seen[0].interrupted is not None or seen[0].finished_at is not None


def test_a_fenced_copy_that_runs_on_is_never_the_jobs_outcome(start_workers, redis_env, recovery_service):
    # The main process frozen 1 s into a 16 s job (silent: fenced off some 6 s later, the job
    # handed on) while its pool process runs on and reaches its end long before the copy handed
    # on: the case of the fenced worker's result arriving first and being reported. (With
    # 10 s, a busy machine once fenced it only after its end: then its outcome rightly counts.)
    service = recovery_service()
    workers = start_workers(2)
    producer = Background("--jobs", "1", "--duration", "16", "--timeout", "120", "--json", env=redis_env)
    (holder,) = wait_until_busy(workers)
    index = workers.names.index(holder)
    time.sleep(1)
    os.kill(workers.procs[index].pid, signal.SIGSTOP)
    try:
        wait_for(lambda: "fenced off" in service.log.read_text(), 30, "the service to fence the frozen worker")
        log = workers.logs[index]
        wait_for(lambda: "before it finished" in log.read_text(), 30, "the fenced copy to reach its end")
    finally:
        os.kill(workers.procs[index].pid, signal.SIGCONT)
    run = producer.finish(120)
    assert run.returncode == 0, run.stderr
    (record,) = run.document["results"]
    other = workers.names[1 - index]
    assert record["status"] == "SUCCESS" and record["worker"] == other  # the live copy's, never the fenced one's
    seen = starts(workers.app, record["task_id"])
    assert [r.worker for r in seen] == [holder, other] and all(r.finished_at for r in seen), seen
    assert "fenced off (host cut off or frozen) before it finished" in log.read_text()
    assert record["ran_twice"] and run.document["summary"]["duplicates"] == 1  # both ran to the end: said


def test_a_job_blocking_a_solo_workers_loop_is_left_alone(start_workers, recovery_service):
    # Its heartbeats stop while the job runs in the loop's own thread; its pulse does not.
    service = recovery_service()
    workers = start_workers(2, pool="solo")
    result = workers.app.send_task("task1", kwargs={"duration": 10}, queue="jobs")
    record = result.get(timeout=60)
    log = service.log.read_text()
    assert record["redelivered"] is False and len(starts(workers.app, result.id)) == 1, log
    assert "still connected" in log and "fenced" not in log


def test_a_job_that_kills_its_pool_process_is_failed_after_three_deaths(start_workers):
    workers = start_workers(1)
    result = workers.app.send_task("task1", kwargs={"duration": 0, "fail": "crash"}, queue="jobs")
    with pytest.raises(Exception, match=r"took its worker down 3 times"):
        result.get(timeout=90)
    assert result.state == "FAILURE" and len(starts(workers.app, result.id)) == 4


def test_a_job_that_kills_whole_workers_is_failed_after_three(start_workers, recovery_service):
    recovery_service()
    workers = start_workers(4, pool="solo")  # the job runs in the worker's own process: it dies with it
    result = workers.app.send_task("task2", kwargs={"duration": 0, "fail": "crash"}, queue="jobs")
    with pytest.raises(Exception, match=r"took its worker down 3 times"):
        result.get(timeout=120)
    assert sum(proc.poll() is not None for proc in workers.procs) == 3


def test_a_restarted_service_catches_up_from_the_unacked_jobs(start_workers, recovery_service):
    workers = start_workers(2)
    result = workers.app.send_task("task1", kwargs={"duration": 4}, queue="jobs")
    (holder,) = wait_until_busy(workers)
    index = workers.names.index(holder)
    os.killpg(workers.procs[index].pid, signal.SIGKILL)  # no service running: nobody saw who held it
    time.sleep(1)
    service = recovery_service()
    started = time.time()
    record = result.get(timeout=60)
    assert record["redelivered"] is True and record["worker"] != holder
    assert started_at(record) - started < KILL_TO_START_S
    assert "catch-up" in service.log.read_text()


def test_a_job_run_twice_is_reported(start_workers, redis_env):
    # The trap, on purpose: a visibility timeout shorter than the job, no service.
    short = {"VISIBILITY_TIMEOUT": "2"}
    start_workers(2, env=short)
    producer = Background("--jobs", "1", "--duration", "9", "--json", env={**redis_env, **short})
    run = producer.finish()
    assert run.returncode == 0, run.stderr
    (result,) = run.document["results"]
    # handed on every 2 s while it ran: to the other worker, and maybe to the first again as it
    # finished its first run (a third run, started as the result came)
    assert len(result["ran_twice"]) >= 2 and run.document["summary"]["duplicates"] == 1
    first, second = result["ran_twice"][:2]
    assert first["worker"] != second["worker"]  # the busy worker could not take it again while it ran


def test_a_killed_workers_attempt_is_in_the_trace_as_lost_on_its_track(start_workers, redis_env, recovery_service,
                                                                       tmp_path):
    recovery_service()
    workers = start_workers(2)
    trace = tmp_path / "run.json"
    producer = Background("--jobs", "2", "--duration", "3", "--no-timeline", "--trace", str(trace), env=redis_env)
    busy = wait_until_busy(workers, 2)
    (job,) = busy[workers.names[0]]
    os.killpg(workers.procs[0].pid, signal.SIGKILL)  # worker and its pool, as `docker kill` does
    run = producer.finish()
    assert run.returncode == 0, run.stderr
    events = json.loads(trace.read_text())["traceEvents"]
    tracks = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    (lost,) = [e for e in events if e["ph"] == "X" and e["name"].endswith("(lost)")]
    assert lost["args"] == {"task_id": job, "worker": workers.names[0], "status": "lost"}
    assert tracks[(lost["pid"], lost["tid"])] == workers.names[0]  # it finished nothing: a track of its own
    again = next(e for e in events if e["ph"] == "X" and e["args"]["task_id"] == job and e is not lost)
    # it ends at the worker's last sign of life (its task-started event, if no heartbeat came after), as in watch
    assert lost["ts"] <= lost["ts"] + lost["dur"] <= again["ts"] and again["args"]["redelivered"] is True
    assert lost["dur"] < 3e6
