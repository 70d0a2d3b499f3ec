"""The nemesis run's schedule and its checks (benchmarks.nemesis), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from benchmarks.nemesis import HOLDS, Fault, History, judge, report, schedule
from worker import runs

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    first = schedule(7, 600, 4)
    assert first == schedule(7, 600, 4) and first != schedule(8, 600, 4)
    assert {f.kind for f in first} == set(HOLDS)  # ten minutes strike with every kind
    assert all(0 <= f.target < 4 for f in first)
    assert all(a.at_s + a.hold_s < b.at_s for a, b in zip(first, first[1:], strict=False))  # one at a time
    assert all(f.at_s < 600 - 15 for f in first) and len(schedule(7, 120, 4)) >= 5


def test_a_fault_is_one_line_that_names_its_worker():
    line = Fault(12.3, "pause", 2, 8.0).describe("a1b2c3")
    assert line == "+  12.3 s freeze (docker pause) for 8.0 s worker 2 (a1b2c3)"
    assert Fault(1, "redis-restart", 0, 0).describe() == "+   1.0 s restart Redis"


def run_of(worker: str, start_s: float, end_s: float | None) -> runs.Run:
    return runs.Run(worker, 7, 1, T0 + timedelta(seconds=start_s),
                    None if end_s is None else T0 + timedelta(seconds=end_s))


def batch(statuses: list[str], duplicates: int = 0, twice: str | None = None, code: int = 0) -> dict:
    results = [{"task_id": f"p{i}", "status": s} for i, s in enumerate(statuses)]
    then = {twice: [run_of("w@a", 0, 1), run_of("w@b", 0.5, 1.5)]} if twice else {}
    return {"returncode": code, "document": {"results": results, "summary": {"duplicates": duplicates}},
            "runs_then": then}


def test_a_clean_history_holds():
    history = History(plain={"a": "sent", "b": "sent", "c": "unsure"}, batches=[batch(["SUCCESS", "SUCCESS"])])
    verdict = judge(history, {"a": {"status": "SUCCESS"}, "b": {"status": "SUCCESS"}, "c": None},
                    {"a": [run_of("w@a", 0, 1), run_of("w@b", 2, 3)]}, 1.5, [Fault(1, "kill", 0, 0)])
    assert verdict.ok and verdict.jobs == 4 and verdict.succeeded == 4 and verdict.extra_runs == 1
    assert verdict.faults == {"kill": 1}
    assert report(verdict)[-1] == "nemesis: every check holds"


def test_a_lost_a_failed_and_a_miscounted_job_and_a_cluster_not_back_are_each_said():
    history = History(plain={"lost": "sent", "failed": "sent"},
                      batches=[batch(["SUCCESS", "PENDING"], duplicates=0, twice="p0"),
                               {"returncode": 2, "document": None, "stderr": "boom", "runs_then": {}},
                               {"returncode": 3, "document": None, "stderr": "cannot reach Redis", "runs_then": {}}])
    verdict = judge(history, {"lost": None, "failed": {"status": "FAILURE", "error": "JobFailed"}}, {}, None, [])
    assert not verdict.ok and (verdict.lost, verdict.failed, verdict.batches_refused) == (2, 1, 1)
    said = "\n".join(verdict.problems)
    for part in ("plain job lost: sent, no outcome (lost)", "plain job failed: FAILURE (JobFailed)",
                 "producer job p1: no outcome (lost)", "a batch reported 0 duplicates, its run lists said 1",
                 "a batch exited 2 without a report: boom", "did not come back to full strength"):
        assert part in said
    assert report(verdict)[-1] == "nemesis: 6 checks failed"


def test_a_cut_off_copy_that_finished_after_the_report_is_no_miscount_but_one_known_before_it_is():
    # The batch's last result came at 2 s; the first copy, cut off, finished at 3 s: after the report.
    then = {"p0": [run_of("w@a", 0, 3), run_of("w@b", 0.5, 1.5)]}
    thawed = {"task_id": "p0", "status": "SUCCESS", "runs": 2, "received_at": (T0 + timedelta(seconds=2)).isoformat()}

    def verdict_of(*results: dict, duplicates: int = 0):
        document = {"results": list(results), "summary": {"duplicates": duplicates}}
        return judge(History(batches=[{"returncode": 0, "document": document, "runs_then": then}]), {}, {}, 1.0, [])

    assert verdict_of(thawed).ok
    twice = {**thawed, "ran_twice": [{"worker": "w@a"}, {"worker": "w@b"}]}
    assert verdict_of(twice, duplicates=1).ok  # or it finished before the read: reporting it is right too
    # finished before the batch's last result: the report should have said so
    (problem,) = verdict_of({**thawed, "received_at": (T0 + timedelta(seconds=4)).isoformat()}).problems
    assert problem.startswith("a batch reported 0 duplicates, its run lists said 1; p0: ")
    assert "w@a pid 7 at 00:00:00.0 to 00:00:03.000000, w@b pid 7 at 00:00:00.5" in problem
    # a duplicate reported that the run lists do not show
    assert not verdict_of(twice, duplicates=1).problems and verdict_of(
        {**twice, "task_id": "p1"}, duplicates=1).problems
    # a count that disagrees with its own jobs
    assert verdict_of(twice, duplicates=2).problems


def test_a_copy_that_finished_while_its_worker_was_cut_off_is_no_miscount_though_its_finish_is_dated_before():
    # Seed 169 in CI: the copy on the cut-off worker finished at 1 s, inside its cut (0.5-6 s), and could write
    # that only at the heal; the other copy ran at 5.5-6 s and gave the batch its last result at 6.5 s. The
    # producer's read then found the first copy unfinished: a redelivery, rightly not reported as a duplicate.
    then = {"p0": [run_of("worker@aaaa1111", 0.8, 1), run_of("worker@bbbb2222", 5.5, 6)]}
    result = {"task_id": "p0", "status": "SUCCESS", "runs": 2, "received_at": (T0 + timedelta(seconds=6.5)).isoformat()}
    document = {"results": [result], "summary": {"duplicates": 0}}
    cut = ("aaaa1111" + "f" * 56, T0 + timedelta(seconds=0.5), T0 + timedelta(seconds=6))

    def verdict_of(blind: list) -> object:
        return judge(History(batches=[{"returncode": 0, "document": document, "runs_then": then}], blind=blind),
                     {}, {}, 1.0, [])

    assert verdict_of([cut]).ok
    assert not verdict_of([]).ok  # the same, no cut on record: the report missed a duplicate
    other = ("bbbb2222" + "f" * 56, cut[1], T0 + timedelta(seconds=5))  # another worker's cut: nothing of this one
    assert not verdict_of([other]).ok
    before = (cut[0], T0 + timedelta(seconds=1.5), cut[2])  # a cut that began after the finish: it was written
    assert not verdict_of([before]).ok
