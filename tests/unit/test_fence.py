"""A job's run list read back (worker.runs.parse): which runs it tells of, interrupted or finished, and
the claim a worker hands its task. Pure. The fence itself is applied in Redis, where the result is
written (tests/integration/test_run_list_scripts.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker import runs

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
RUN = runs.Run("w@a", None, 1, T0)  # as a claim records it: its process not known yet


def started(run: runs.Run) -> str:
    return runs.entry("started", run.worker, run.pid, run.attempt, run.started_at, run.started_at)


def finished(run: runs.Run, after_s: float = 30, pid: int | None = 8) -> str:
    return runs.entry("finished", run.worker, pid, run.attempt, run.started_at, run.started_at
                      + timedelta(seconds=after_s))


def cut(worker: str = "w@a", run: datetime | None = None, why: str = runs.FENCED) -> str:
    return runs.interruption(worker, run, why, T0 + timedelta(seconds=6))


def test_a_claimed_run_gets_its_process_from_its_finish():
    (run,) = runs.parse([started(RUN)])
    assert (run.pid, run.finished_at, run.describe()) == (None, None, "w@a at 12:00:00.0, never finished")
    (done,) = runs.parse([started(RUN), finished(RUN)])
    assert (done.pid, done.finished_at) == (8, T0 + timedelta(seconds=30))
    assert done.describe() == "w@a pid 8 at 12:00:00.0"


def test_a_run_is_named_by_its_worker_and_start_not_its_process():
    other_start = runs.Run("w@a", None, 1, T0 + timedelta(seconds=1))
    other_worker = runs.Run("w@b", None, 1, T0)
    found = runs.parse([started(RUN), started(other_start), started(other_worker), finished(RUN, pid=9)])
    assert [(r.worker, r.started_at, r.pid) for r in found] == [
        ("w@a", T0, 9), ("w@b", T0, None), ("w@a", T0 + timedelta(seconds=1), None)]
    assert RUN.ident == "w@a/2026-12-07T12:00:00.000000+00:00" != other_start.ident


def test_a_run_interrupted_keeps_why_and_when_and_a_finish_clears_both():
    (run,) = runs.parse([started(RUN), cut(run=T0, why=runs.CANCELLED)])
    assert (run.interrupted, run.interrupted_at) == (runs.CANCELLED, T0 + timedelta(seconds=6))
    (done,) = runs.parse([started(RUN), cut(), finished(RUN)])
    assert (done.interrupted, done.interrupted_at) == (None, None)
    (undated,) = runs.parse([started(RUN), '{"event": "interrupted", "worker": "w@a", "why": "gone"}'])
    assert (undated.interrupted, undated.interrupted_at) == ("gone", None)  # the reason counts without a time


def test_an_interruption_ends_only_its_workers_runs_recorded_before_it_or_the_one_it_names():
    later = runs.Run("w@a", None, 1, T0 + timedelta(seconds=10))
    elsewhere = runs.Run("w@b", None, 1, T0)
    found = {r.ident: r.interrupted for r in runs.parse(
        [started(RUN), started(elsewhere), cut(run=T0 + timedelta(seconds=99)), cut(), started(later)])}
    assert found == {RUN.ident: runs.FENCED, elsewhere.ident: None, later.ident: None}
    named = {r.ident: r.interrupted for r in runs.parse([started(RUN), started(later), cut(run=later.started_at)])}
    assert named == {RUN.ident: None, later.ident: runs.FENCED}


def test_unreadable_entries_are_passed_over():
    (run,) = runs.parse([b"junk", "[]", started(RUN), '{"event": "interrupted"}', '{"event": "started"}', cut()])
    assert run.interrupted == runs.FENCED


def test_a_claim_header_round_trips_and_a_broken_one_is_none():
    before = [started(RUN).encode(), finished(RUN)]
    header = runs.claim_header("w@b", 2, T0 + timedelta(seconds=40), before)
    claimed = runs.Claimed.from_header(header)
    assert claimed is not None
    assert claimed.run == runs.Run("w@b", None, 2, T0 + timedelta(seconds=40))
    assert [(r.worker, r.pid, r.finished_at is not None) for r in claimed.before] == [("w@a", 8, True)]
    for broken in (None, {}, "x", {**header, "started_at": "soon"}, {**header, "attempt": "first"},
                   {k: v for k, v in header.items() if k != "before"}):
        assert runs.Claimed.from_header(broken) is None


def test_a_run_moves_onto_another_clock_whole():
    (run,) = runs.parse([started(RUN), cut()])
    moved = run.shifted(-2.0)
    assert moved.started_at == T0 - timedelta(seconds=2) and moved.interrupted_at == T0 + timedelta(seconds=4)
    assert moved.finished_at is None and runs.parse([started(RUN), finished(RUN)])[0].shifted(1).finished_at \
        == T0 + timedelta(seconds=31)


def test_a_job_cut_or_dropped_as_its_worker_stops_is_put_back_and_else_cancelled(monkeypatch):
    from celery.worker import state

    from worker.tasks import why_cancelled

    for stop, terminate, why in ((None, None, runs.CANCELLED), (False, None, runs.CANCELLED),
                                 (0, None, runs.PUT_BACK),  # a clean warm shutdown's exit code
                                 (None, 1, runs.PUT_BACK), (None, 0, runs.PUT_BACK)):
        monkeypatch.setattr(state, "should_stop", stop)
        monkeypatch.setattr(state, "should_terminate", terminate)
        assert why_cancelled() == why, (stop, terminate)


def test_a_cold_shutdown_cancelling_what_runs_is_a_stop_before_celerys_flags_say_so(monkeypatch):
    from celery.worker import state

    from worker import tasks

    monkeypatch.setattr(state, "should_stop", None)
    monkeypatch.setattr(state, "should_terminate", None)
    monkeypatch.setattr(tasks, "_cold_shutdown", tasks.threading.Event())
    assert tasks.why_cancelled() == runs.CANCELLED
    tasks._cold_shutdown.set()
    assert tasks.why_cancelled() == runs.PUT_BACK
