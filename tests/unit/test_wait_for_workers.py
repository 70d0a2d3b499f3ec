"""The one wait for workers (cluster.workers.wait_for_workers), against a fake remote control."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cluster.errors import LocalClusterError
from cluster.workers import wait_for_workers


def app_answering(*rounds: list[str]) -> SimpleNamespace:
    """An app whose ping answers with these names, one list per round (the last one repeats)."""
    asked = []

    def ping(destination=None, timeout=1.0, limit=None):
        asked.append(destination)
        names = rounds[min(len(asked), len(rounds)) - 1]
        return [{name: {"ok": "pong"}} for name in names if destination is None or name in destination]

    return SimpleNamespace(control=SimpleNamespace(ping=ping), asked=asked)


def test_named_workers_are_waited_for_until_all_answer():
    app = app_answering(["a@h"], ["a@h", "b@h", "other@h"])
    assert wait_for_workers(app, ["a@h", "b@h"], 10) >= 0
    assert app.asked == [["a@h", "b@h"], ["a@h", "b@h"]]  # only they are asked


def test_a_count_is_met_by_any_workers():
    app = app_answering([], ["x@h", "y@h"])
    wait_for_workers(app, 2, 10)
    assert app.asked == [None, None]


def test_past_the_deadline_it_names_who_is_missing():
    with pytest.raises(LocalClusterError, match="within 0 s: b@h"):
        wait_for_workers(app_answering(["a@h"]), ["a@h", "b@h"], 0)


def test_check_fails_at_once():
    def exited() -> None:
        raise LocalClusterError("worker b@h exited")

    with pytest.raises(LocalClusterError, match="exited"):
        wait_for_workers(app_answering([]), ["b@h"], 60, check=exited)
