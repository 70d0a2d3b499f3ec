"""The quiz's scenes, answers and report, without a cluster; and the library's batch result."""

from __future__ import annotations

import pytest

from cluster.errors import UsageError
from cluster.workers import Worker
from producer.experiments.course_quiz import (
    NOT_PARALLEL,
    PARALLEL,
    SCENARIOS,
    AmdahlPoint,
    QuizResult,
    Step,
    cashier_worker,
    judge,
    parse_answer,
    score_line,
)
from producer.results import BatchResult
from producer.submit import Collected
from tests.unit.builders import waves


def test_the_page_s_answers_in_its_order():
    assert [(s.key, s.answer) for s in SCENARIOS] == [("cashier", NOT_PARALLEL), ("showers", PARALLEL),
                                                      ("cup", NOT_PARALLEL)]
    assert SCENARIOS[0].question == "One cashier serves two lines of people in a store."
    assert SCENARIOS[1].question == "A swimming pool offers multiple shower stalls."
    assert SCENARIOS[2].question == "Multiple people take turns drinking from a cup."


@pytest.mark.parametrize("typed, answer", [("parallel", PARALLEL), (" P ", PARALLEL), ("yes", PARALLEL),
                                           ("not parallel", NOT_PARALLEL), ("Not-Parallel", NOT_PARALLEL),
                                           ("not", NOT_PARALLEL), ("n", NOT_PARALLEL), ("np", NOT_PARALLEL)])
def test_a_learner_may_answer_briefly(typed, answer):
    assert parse_answer(typed) == answer


@pytest.mark.parametrize("typed", ["", "maybe", "concurrent", "pp"])
def test_anything_else_is_not_an_answer(typed):
    with pytest.raises(ValueError, match="answer 'parallel' or 'not parallel'"):
        parse_answer(typed)


def batch(jobs: int, hosts: int) -> BatchResult:
    return BatchResult.of(Collected(waves(jobs, hosts), wall_s=jobs / hosts + 0.05, submit_s=0.01), slots_online=hosts)


def test_the_measurement_judges_parallel_only_when_jobs_overlapped_and_it_paid_off():
    assert judge(batch(4, 4).summary) == PARALLEL
    assert judge(batch(4, 1).summary) == NOT_PARALLEL


def test_a_step_says_whether_measurement_and_learner_agree_with_the_page():
    showers = Step(SCENARIOS[1], "4 slots", 4, batch(4, 4), given=NOT_PARALLEL)
    assert showers.measured == PARALLEL and showers.agrees and showers.right is False
    cashier = Step(SCENARIOS[0], "1 slot", 1, batch(4, 4))
    assert not cashier.agrees and cashier.right is None


def test_the_report_fits_80_columns_and_gives_each_answer_with_its_reason():
    steps = [Step(SCENARIOS[0], "one worker slot consumes two queues, line A and line B", 1, batch(4, 1),
                  given=NOT_PARALLEL),
             Step(SCENARIOS[1], "4 slots", 4, batch(4, 4), given=PARALLEL),
             Step(SCENARIOS[2], "4 slots, one cup", 4, batch(4, 1), given=PARALLEL)]
    text = QuizResult(steps, [AmdahlPoint(1, 1, 0.99, 1.0), AmdahlPoint(2, 2, 1.32, 4 / 3)]).report()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert text.count("answer: NOT PARALLEL") == 2 and text.count("answer: PARALLEL") == 1
    assert "each of the 4 stalls" in text and "1.32x   1.33x" in text
    assert text.count("you were right") == 2 and "you said 'parallel': not quite" in text
    assert text.endswith("you got 2 of 3 right")


def test_without_answers_the_score_line_lists_what_was_measured():
    steps = [Step(s, "", 4, batch(4, 4 if s.answer == PARALLEL else 1)) for s in SCENARIOS]
    assert score_line(steps) == "answers: cashier not parallel, showers parallel, cup not parallel"


def test_the_cashier_is_a_worker_with_one_slot():
    workers = [Worker("w1", ("jobs",), 2), Worker("w2", ("jobs",), 1)]
    assert cashier_worker(workers).name == "w2"
    with pytest.raises(UsageError, match="one process"):
        cashier_worker(workers[:1])


def test_a_batch_result_gives_records_a_text_timeline_and_a_short_repr():
    result = batch(4, 2)
    assert [r.task_id for r in result.records] == ["id-0", "id-1", "id-2", "id-3"]
    text = result.timeline(width=60)
    assert all(len(line) <= 60 for line in text.splitlines()) and "task1" in text
    assert repr(result).startswith("<BatchResult 4 jobs, wall 2.05 s") and "parallel" in repr(result)


def test_a_batch_result_as_a_table():
    pd = pytest.importorskip("pandas", reason="pandas is in the test extra; without it to_dataframe says so")
    frame = batch(4, 2).to_dataframe()
    assert len(frame) == 4 and {"task", "worker", "started_at", "runtime_s", "status"} <= set(frame.columns)
    assert isinstance(frame["started_at"].dtype, pd.DatetimeTZDtype)


def test_the_library_is_importable_from_the_package():
    import producer
    from producer import api, compare, quiz, run_jobs, sweep

    assert (run_jobs, compare, sweep, quiz) == (api.run_jobs, api.compare, api.sweep, api.quiz)  # not the modules
    assert producer.quiz is api.quiz and producer.compare is api.compare  # no module has those names
    with pytest.raises(AttributeError):
        producer.nothing  # noqa: B018
