"""The one reader of queue depths (cluster.queues): kombu's own list names, one round trip."""

from __future__ import annotations

from kombu.transport.redis import PRIORITY_STEPS, Channel

from cluster.queues import read_depths
from worker.layout import queue_lists


class FakePipeline:
    def __init__(self, lengths: dict[str, int]) -> None:
        self.lengths, self.asked = lengths, []

    def llen(self, name: str) -> None:
        self.asked.append(name)

    def execute(self) -> list[int]:
        return [self.lengths.get(name, 0) for name in self.asked]


class FakeClient:
    def __init__(self, lengths: dict[str, int]) -> None:
        self.lengths = lengths

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self.lengths)


def test_the_lists_are_the_ones_kombu_pops():
    chan = Channel.__new__(Channel)  # no connection: only its naming is used
    assert queue_lists("jobs") == [chan._q_for_pri("jobs", p) for p in PRIORITY_STEPS]
    assert queue_lists("jobs")[0] == "jobs"


def test_other_steps_and_separator_are_followed():
    assert queue_lists("q", [0, 5], sep="|") == ["q", "q|5"]


def test_depths_add_every_priority_list_of_each_queue():
    lengths = {"jobs": 2, queue_lists("jobs")[2]: 3, "other": 1}
    assert read_depths(FakeClient(lengths), ["jobs", "other", "empty"]) == {"jobs": 5, "other": 1, "empty": 0}
