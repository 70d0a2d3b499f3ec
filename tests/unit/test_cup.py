"""The one cup of the quiz: its argument checks, its place in the record, the timeline and the figures."""

from __future__ import annotations

import math

import pytest

from producer.figures import amdahl, summarize
from producer.jobs import Job
from producer.views.timeline import CUP_WAIT, LEGEND, layout, legend, render
from tests.unit.builders import at, cup_record, outcome, record
from worker.records import JobRecord, check_cup, check_cup_name


@pytest.mark.parametrize("value, share", [(None, 0.0), (0, 0.0), (0.5, 0.5), (1, 1.0)])
def test_a_cup_share_is_a_number_from_0_to_1(value, share):
    assert check_cup(value) == share and isinstance(check_cup(value), float)


@pytest.mark.parametrize("value", [-0.1, 1.01, math.nan, math.inf, "0.5", True, [0.5]])
def test_a_bad_cup_share_says_what_a_good_one_is(value):
    with pytest.raises(ValueError, match="cup must be a share of the duration between 0 and 1"):
        check_cup(value)


@pytest.mark.parametrize("value", ["", "a b", "x" * 101, None, 3, "cup:1", "ü"])
def test_a_cup_name_is_a_short_safe_key(value):
    with pytest.raises(ValueError, match="cup_name must be 1 to 100 letters"):
        check_cup_name(value)
    assert check_cup_name("quiz-1f2e.3_a") == "quiz-1f2e.3_a"


def test_a_job_without_the_cup_keeps_the_record_everyone_knows():
    data = record(0, 1).to_json()
    assert "waited_for_cup_s" not in data and "cup_s" not in data
    assert JobRecord.from_json(data) == record(0, 1)  # older records parse: the fields default to 0


def test_a_cup_job_says_how_long_it_waited_and_drank():
    rec = cup_record(0, 3, waited=1.5, held=1.0, cup=0.5)
    data = rec.to_json()
    assert data["cup"] == 0.5 and data["waited_for_cup_s"] == 1.5 and data["cup_s"] == 1.0
    assert JobRecord.from_json(data) == rec
    assert rec.cup_wait == (at(0.5), at(2.0))  # the wait ends when it starts drinking, `held` before the end
    assert record(0, 1).cup_wait is None


def test_a_job_that_needs_the_cup_all_along_waits_from_its_start():
    # measured on two clocks, the wait may seem to start a hair after the job: no sliver of "running" before it
    rec = cup_record(0.0, 3.0, waited=1.9999, held=1.0)
    assert rec.cup_wait == (at(0.0), at(2.0))
    assert summarize([outcome(rec), outcome(cup_record(0.0, 1.0, waited=0.0, held=1.0, hostname="h2"))],
                     wall_s=3.0).peak_overlap == 1


def test_the_cup_share_travels_as_task_arguments_only_when_asked():
    assert Job("task1", 1.0).kwargs == {"duration": 1.0, "kind": "sleep"}
    assert Job("task1", 1.0, cup=0.5, cup_name="c1").kwargs == {"duration": 1.0, "kind": "sleep", "cup": 0.5,
                                                                  "cup_name": "c1"}


def taking_turns(n: int) -> list:
    """n one-second jobs that need the cup all along, started together on n slots: they drink in turn."""
    return [outcome(cup_record(0.01, 0.01 + i + 1, waited=float(i), held=1.0, task_id=f"id-{i}", hostname=f"h{i}"),
                    submitted=0.0) for i in range(n)]


def test_waiting_for_the_cup_is_its_own_segment_in_the_timeline():
    timeline = layout(taking_turns(4), 104)
    rows = {row.label: row for row in timeline.rows}
    assert rows["worker@h0 pid 8"].bars[0].cup_waits == []
    last = rows["worker@h3 pid 8"].bars[0]
    assert last.cup_waits and last.cup_waits[0][0] == last.start  # it waited from its start...
    assert 0.7 * timeline.columns < last.cup_waits[0][1] < 0.8 * timeline.columns  # ...for 3 of its 4 s
    text = [line.plain for line in render(timeline)]
    row = next(line for line in text if line.lstrip().startswith("worker@h3"))
    assert CUP_WAIT * 10 in row and "task1" in row  # the name moves into the part where it drinks
    assert row.index("task1") > row.index(CUP_WAIT)
    assert CUP_WAIT in legend(timeline) and CUP_WAIT not in LEGEND  # said only where it is drawn


def test_taking_turns_for_the_cup_is_not_called_parallel():
    s = summarize(taking_turns(4), wall_s=4.05, slots_online=4)
    assert s.peak_overlap == 1  # waiting for the cup is not running: one at a time made progress
    assert s.peak_drinking == 1
    assert s.waited_for_cup_s == pytest.approx(6.0)
    assert s.speedup == pytest.approx(4 / 4.05, abs=0.001)
    assert s.verdict.startswith("took turns for one shared resource (the cup), one after another: ")


def test_when_only_part_of_each_job_needs_the_cup_the_rest_runs_in_parallel():
    # 4 jobs of 1 s, the second half of each needs the cup: 0.5 s side by side, then 4 x 0.5 s in turn
    out = [outcome(cup_record(0.0, 1.0 + 0.5 * i, waited=0.5 * i, held=0.5, cup=0.5, task_id=f"id-{i}",
                              hostname=f"h{i}"),
                   submitted=0.0) for i in range(4)]
    s = summarize(out, wall_s=2.5, slots_online=4)
    assert s.peak_overlap == 4 and s.peak_drinking == 1
    assert s.speedup == pytest.approx(amdahl(0.5, 4))
    assert s.verdict.startswith("ran in parallel on 4 slots, but took turns for the cup: 1.60x faster")


def test_jobs_without_the_cup_have_no_cup_figures():
    s = summarize([outcome(record(0, 1))], wall_s=1.01)
    assert s.waited_for_cup_s == 0 and s.peak_drinking == 0
    assert "cup" not in s.verdict


@pytest.mark.parametrize("p, n, expected", [(0.5, 1, 1.0), (0.5, 2, 4 / 3), (0.5, 4, 1.6), (1.0, 4, 4.0),
                                            (0.0, 8, 1.0), (0.9, 10, 1 / (0.1 + 0.09))])
def test_amdahl_s_law(p, n, expected):
    assert amdahl(p, n) == pytest.approx(expected)


@pytest.mark.parametrize("p, n", [(-0.1, 2), (1.1, 2), (0.5, 0)])
def test_amdahl_refuses_what_has_no_meaning(p, n):
    with pytest.raises(ValueError):
        amdahl(p, n)
