"""The fence in a job's run list (worker.runs.fenced_off): a run cut off before it finished does not
count, whatever it does later; one cut off after it finished does. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker import runs

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
RUN = runs.Run("w@a", 8, 1, T0)


def started(run: runs.Run) -> str:
    return runs.entry("started", run.worker, run.pid, run.attempt, run.started_at, run.started_at)


def finished(run: runs.Run, after_s: float = 30) -> str:
    return runs.entry("finished", run.worker, run.pid, run.attempt, run.started_at, run.started_at
                      + timedelta(seconds=after_s))


def cut(worker: str = "w@a", pid: int | None = None, why: str = "fenced off (host cut off or frozen)") -> str:
    return runs.interruption(worker, pid, why, T0 + timedelta(seconds=6))


def test_a_run_fenced_before_it_finished_does_not_count():
    assert runs.fenced_off([started(RUN), cut(), finished(RUN)], RUN) == "fenced off (host cut off or frozen)"
    assert runs.fenced_off([started(RUN), cut(pid=8, why="cancelled: its worker lost Redis"), finished(RUN)],
                           RUN) == "cancelled: its worker lost Redis"


def test_a_run_never_cut_or_cut_after_it_finished_counts():
    assert runs.fenced_off([started(RUN), finished(RUN)], RUN) is None
    assert runs.fenced_off([started(RUN), finished(RUN), cut()], RUN) is None
    assert runs.fenced_off([], RUN) is None


def test_only_a_cut_of_this_worker_and_process_after_this_start_fences_it():
    other = runs.Run("w@b", 9, 1, T0 + timedelta(seconds=7))
    earlier = runs.Run("w@a", 8, 1, T0 - timedelta(seconds=60))
    history = [started(earlier), cut(), started(RUN), cut("w@b"), cut(pid=9), started(other), finished(other),
               finished(RUN)]
    assert runs.fenced_off(history, RUN) is None  # the cut of w@a came before this run started
    assert runs.fenced_off(history, earlier) == "fenced off (host cut off or frozen)"


def test_unreadable_entries_are_passed_over():
    assert runs.fenced_off([b"junk", "[]", started(RUN), '{"event": "interrupted"}', cut(), finished(RUN)],
                           RUN) == "fenced off (host cut off or frozen)"


def test_a_run_interrupted_keeps_why_and_when_and_a_finish_clears_both():
    (run,) = runs.parse([started(RUN), cut(pid=8, why=runs.CANCELLED)])
    assert (run.interrupted, run.interrupted_at) == (runs.CANCELLED, T0 + timedelta(seconds=6))
    (done,) = runs.parse([started(RUN), cut(), finished(RUN)])
    assert (done.interrupted, done.interrupted_at) == (None, None)
    (undated,) = runs.parse([started(RUN), '{"event": "interrupted", "worker": "w@a", "why": "gone"}'])
    assert (undated.interrupted, undated.interrupted_at) == ("gone", None)  # the reason counts without a time


def test_a_run_moves_onto_another_clock_whole():
    (run,) = runs.parse([started(RUN), cut()])
    moved = run.shifted(-2.0)
    assert moved.started_at == T0 - timedelta(seconds=2) and moved.interrupted_at == T0 + timedelta(seconds=4)
    assert moved.finished_at is None and runs.parse([started(RUN), finished(RUN)])[0].shifted(1).finished_at \
        == T0 + timedelta(seconds=31)
