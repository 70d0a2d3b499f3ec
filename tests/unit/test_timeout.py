"""A batch that runs out of time (producer.submit.run_batch): its wall runs until the producer stopped
waiting, and each job without a result says when that was. Celery's join is faked: no broker."""

from __future__ import annotations

import time
from contextlib import nullcontext
from types import SimpleNamespace

from celery.exceptions import TimeoutError as CeleryTimeout

from producer import submit
from producer.jobs import Job, Outcome
from worker.records import utc_now


class NoResultInTime:
    """A ResultSet whose join waits out its timeout and gets nothing, as with jobs longer than --timeout."""

    def __init__(self, results: list) -> None:
        self.results = results

    def join_native(self, timeout: float, **_) -> None:
        time.sleep(timeout)
        raise CeleryTimeout("no result in time")


def test_a_timeout_before_any_result_is_a_wall_of_the_wait_not_zero(monkeypatch):
    def submitted(_app, jobs, into, on_flushed=None):
        for i, job in enumerate(jobs):
            into.outcomes[f"id-{i}"] = Outcome(job, f"id-{i}", utc_now())
            into.results.append(SimpleNamespace(id=f"id-{i}"))
        into.reached = len(jobs)

    monkeypatch.setattr(submit, "warm_up", lambda *_: None)
    monkeypatch.setattr(submit, "submit", submitted)
    monkeypatch.setattr(submit, "InFlightWatch", lambda *_: nullcontext())
    monkeypatch.setattr(submit, "ResultSet", NoResultInTime)
    monkeypatch.setattr(submit, "withdraw_pending", lambda *_: (0, 2))  # both taken by a worker: still running
    monkeypatch.setattr(submit, "note_duplicates", lambda *_: None)
    app = SimpleNamespace(backend=SimpleNamespace(remove_pending_result=lambda _: None))
    before = utc_now()
    collected = submit.run_batch(app, [Job("task1", 3.0), Job("task2", 3.0)], timeout_s=0.05)
    assert collected.wall_s >= 0.05  # it waited that long, though no result ever came
    for outcome in collected.outcomes:
        assert outcome.status == "PENDING" and outcome.error == "did not finish within 0.05 s"
        assert outcome.given_up_at is not None and outcome.given_up_at >= before
