"""The Chrome trace: a process per container, a track per worker slot, a slice per job."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from producer.figures import summarize
from producer.story import tell
from producer.views.trace import PRODUCER_PID, build_trace, write_trace
from tests.unit.builders import killed_worker, outcome, record, run, waves
from worker.runs import CANCELLED

PRODUCER_EVENTS = [
    {"ph": "M", "name": "process_name", "pid": 0, "args": {"name": "producer"}},
    {"ph": "M", "name": "process_sort_index", "pid": 0, "args": {"sort_index": 0}},
    {"ph": "M", "name": "thread_name", "pid": 0, "tid": 0, "args": {"name": "submit / receive"}},
]


def of(trace: dict, ph: str) -> list[dict]:
    return [e for e in trace["traceEvents"] if e["ph"] == ph]


def test_a_threads_pool_gets_a_track_per_thread_and_a_failed_job_is_named_so():
    out = [outcome(record(0.01, 1.01, task_id="a", slot="t1", pool="threads", cpu_s=0.25)),
           outcome(record(0.5, 1.0, task_id="b", task="task2", slot="t2", pool="threads", attempt=2,
                          redelivered=True), status="FAILURE", submitted=0.1),
           outcome(None, task_id="c", task="task2")]
    assert build_trace(tell(out)) == {"displayTimeUnit": "ms", "traceEvents": [
        *PRODUCER_EVENTS,
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "h1"}},
        {"ph": "M", "name": "process_sort_index", "pid": 1, "args": {"sort_index": 1}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "worker@h1 pid 8 #1"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 2, "args": {"name": "worker@h1 pid 8 #2"}},
        {"ph": "X", "name": "task1", "cat": "sleep", "pid": 1, "tid": 1, "ts": 10000.0, "dur": 1000000.0,
         "args": {"task_id": "a", "runtime_s": 1.0, "cpu_s": 0.25, "attempt": 1, "redelivered": False,
                  "status": "SUCCESS", "queued_s": 0.01}},
        {"ph": "X", "name": "task2 (failed)", "cat": "sleep", "pid": 1, "tid": 2, "ts": 500000.0, "dur": 500000.0,
         "args": {"task_id": "b", "runtime_s": 0.5, "cpu_s": 0.0, "attempt": 2, "redelivered": True,
                  "status": "FAILURE", "queued_s": 0.4}},
        {"ph": "i", "s": "t", "name": "submit task1", "pid": 0, "tid": 0, "ts": 0.0, "args": {"task_id": "a"}},
        {"ph": "i", "s": "t", "name": "receive task1", "pid": 0, "tid": 0, "ts": 1012000.0,
         "args": {"task_id": "a", "status": "SUCCESS"}},
        {"ph": "i", "s": "t", "name": "submit task2", "pid": 0, "tid": 0, "ts": 100000.0, "args": {"task_id": "b"}},
        {"ph": "i", "s": "t", "name": "receive task2", "pid": 0, "tid": 0, "ts": 1002000.0,
         "args": {"task_id": "b", "status": "FAILURE"}},
        {"ph": "i", "s": "t", "name": "submit task2", "pid": 0, "tid": 0, "ts": 0.0, "args": {"task_id": "c"}},
    ]}


def test_eight_jobs_on_four_containers_make_four_processes_of_one_track():
    trace = build_trace(tell(waves(8, hosts=4)))
    slices = of(trace, "X")
    assert len(slices) == 8
    assert sorted({(e["pid"], e["tid"]) for e in slices}) == [(1, 1), (2, 2), (3, 3), (4, 4)]
    names = {e["pid"]: e["args"]["name"] for e in of(trace, "M") if e["name"] == "process_name"}
    assert names == {0: "producer", 1: "h0", 2: "h1", 3: "h2", 4: "h3"}
    for i, e in enumerate(slices):
        assert e["args"]["task_id"] == f"id-{i}" and e["name"] == f"task{i % 2 + 1}"
        assert e["ts"] == pytest.approx((i // 4 + 0.01) * 1e6) and e["dur"] == pytest.approx(1e6)
        assert e["args"]["queued_s"] == pytest.approx(i // 4 + 0.01 - i * 0.001, abs=1e-6)
    instants = of(trace, "i")
    assert len(instants) == 16 and all(e["pid"] == PRODUCER_PID and e["tid"] == 0 for e in instants)


def test_two_processes_in_one_container_are_two_tracks_of_one_process():
    trace = build_trace(tell(waves(4, hosts=1, pids=2)))
    assert sorted({(e["pid"], e["tid"]) for e in of(trace, "X")}) == [(1, 1), (1, 2)]
    threads = [e["args"]["name"] for e in of(trace, "M") if e["name"] == "thread_name" and e["pid"] == 1]
    assert threads == ["worker@h0 pid 7", "worker@h0 pid 8"]


def test_worker_clocks_are_moved_onto_the_producers():
    ahead = outcome(record(13.01, 14.01, task_id="a"), submitted=0.0, received=1.012)
    (job,) = of(build_trace(tell([ahead])), "X")
    assert job["ts"] == pytest.approx(12000.0) and job["dur"] == pytest.approx(1e6)
    assert job["args"]["queued_s"] == pytest.approx(0.012)


def test_times_start_at_the_first_submit():
    out = [outcome(record(5.5, 6.0, task_id="a"), submitted=5.0), outcome(record(6.0, 7.0, task_id="b"), submitted=4.0)]
    trace = build_trace(tell(out))
    assert [e["ts"] for e in of(trace, "X")] == [1.5e6, 2e6]
    assert [e["ts"] for e in of(trace, "i") if e["name"].startswith("submit")] == [1e6, 0.0]


def test_no_outcomes_no_events():
    assert build_trace(tell([])) == {"traceEvents": [], "displayTimeUnit": "ms"}
    nothing_ran = build_trace(tell([outcome(None, task_id="a")]))
    assert nothing_ran["traceEvents"] == [*PRODUCER_EVENTS, {"ph": "i", "s": "t", "name": "submit task1", "pid": 0,
                                                              "tid": 0, "ts": 0.0, "args": {"task_id": "a"}}]


def test_the_summary_rides_along_as_strings():
    out = waves(2, hosts=2)
    summary = summarize(out, wall_s=1.05, slots_online=2)
    other = build_trace(tell(out), summary)["otherData"]
    assert other["speedup"] == "1.905" and other["jobs"] == "2" and other["pools"] == "['prefork']"
    assert "otherData" not in build_trace(tell(out))


def test_trace_file_is_the_same_json(tmp_path):
    out = waves(8, hosts=4)
    path = tmp_path / "run.json"
    write_trace(path, tell(out), summarize(out, wall_s=2.02))
    assert json.loads(path.read_text()) == json.loads(json.dumps(build_trace(tell(out), summarize(out, wall_s=2.02))))


# --- what the events saw (producer.story) --------------------------------------------------------------------


def test_a_lost_attempt_is_a_slice_on_its_workers_track_and_waits_are_queued_then_reserved():
    a, b, c = killed_worker()
    trace = build_trace(tell([a, b, c]))
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in of(trace, "M") if e["name"] == "thread_name"}
    assert threads == {(0, 0): "submit / receive", (1, 1): "worker@h0 pid 8", (2, 2): "worker@h1 pid 9",
                       (3, 3): "worker@h9"}
    names = {e["pid"]: e["args"]["name"] for e in of(trace, "M") if e["name"] == "process_name"}
    assert names == {0: "producer", 1: "h0", 2: "h1", 3: "h9"}
    lost = [e for e in of(trace, "X") if e["name"].endswith("(lost)")]
    assert lost == [
        {"ph": "X", "name": "task2 (lost)", "cat": "sleep", "pid": 1, "tid": 1, "ts": 1e6, "dur": 0.5e6,
         "args": {"task_id": "b", "worker": "worker@h0", "status": "lost"}},
        {"ph": "X", "name": "task1 (lost)", "cat": "sleep", "pid": 3, "tid": 3, "ts": 0.2e6, "dur": 1.8e6,
         "args": {"task_id": "c", "worker": "worker@h9", "status": "lost"}},
    ]
    redelivered = next(e for e in of(trace, "X") if e["args"]["task_id"] == "b" and "lost" not in e["name"])
    assert redelivered["args"]["queued_s"] == pytest.approx(1.6) and redelivered["args"]["reserved_s"] == 0.05
    waits = [(e["ph"], e["name"], e["id"], e["pid"], e["ts"]) for e in of(trace, "b") + of(trace, "e")]
    assert sorted(waits) == sorted([
        ("b", "queued", "b", 0, 0.0), ("e", "queued", "b", 0, 1e6),  # until its first attempt
        ("b", "queued", "b", 0, 1.5e6), ("e", "queued", "b", 0, 1.55e6),  # back in the queue until h1 took it
        ("b", "reserved", "b", 2, 1.55e6), ("e", "reserved", "b", 2, 1.6e6),  # on h1, until it started
        ("b", "queued", "c", 0, 0.0), ("e", "queued", "c", 0, 0.2e6),
    ])
    assert all(e["cat"] == "wait" for e in of(trace, "b") + of(trace, "e"))


def test_without_events_the_trace_is_what_it_always_was():
    a, b, c = killed_worker()
    b, c = replace(b, seen=None), replace(c, seen=None)
    trace = build_trace(tell([a, b, c]))
    assert not of(trace, "b") and not of(trace, "e")
    assert [e["name"] for e in of(trace, "X")] == ["task1", "task2"]
    assert all("reserved_s" not in e["args"] for e in of(trace, "X"))
    assert {e["args"]["name"] for e in of(trace, "M") if e["name"] == "process_name"} == {"producer", "h0", "h1"}


def test_a_run_its_worker_cancelled_is_a_slice_with_why_on_the_track_of_its_process():
    again = replace(outcome(record(1.0, 2.0, task_id="j", pid=8, redelivered=True)),
                    runs=(run(0.01, worker="worker@h1", pid=8, why=CANCELLED, cut=0.6), run(0.99, 2.0, pid=8)))
    trace = build_trace(tell([again]))
    cancelled, ran_again = sorted(of(trace, "X"), key=lambda e: e["ts"])
    assert cancelled["name"] == "task1 (cancelled)" and cancelled["args"]["why"] == CANCELLED
    assert (cancelled["pid"], cancelled["tid"]) == (ran_again["pid"], ran_again["tid"])  # one process, one track
    assert (cancelled["ts"], cancelled["dur"]) == (0.01e6, pytest.approx(0.59e6))
