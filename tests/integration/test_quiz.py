"""The quiz and the library API against real workers and a real Redis on loopback."""

from __future__ import annotations

import signal

import pytest

from producer import api
from producer.experiments.course_quiz import QUEUES
from tests.helpers import Background, run_producer, wait_for

pytestmark = pytest.mark.integration


def consumers_restored(workers) -> None:
    assert workers.consuming("jobs") == set(workers.names)
    for queue in QUEUES:
        assert workers.consuming(queue) == set(), queue


def test_the_quiz_answers_as_the_course_page_and_gives_the_queues_back(start_workers):
    workers = start_workers(4)
    result = api.quiz(duration=0.5, answers=["not", "parallel", "not parallel"], app=workers.app)
    assert result.answers == ["not parallel", "parallel", "not parallel"]
    cashier, stalls, cup = (step.result.summary for step in result.steps)
    assert cashier.peak_overlap == 1 and cashier.slots_used == 1 and cashier.succeeded == 4
    assert stalls.peak_overlap == 4 and stalls.speedup >= 2.5  # a busy machine delays a start by tenths of a second
    assert cup.speedup <= 1.3 and cup.peak_overlap == 1 and cup.peak_drinking == 1 and cup.waited_for_cup_s > 0.5
    assert all(step.right for step in result.steps)
    assert [p.workers for p in result.amdahl] == [1, 2, 3, 4]
    # near Amdahl's curve; a late start on a busy machine only lowers a point, nothing lifts one above it
    assert all(p.speedup < p.predicted + 0.1 for p in result.amdahl), result.amdahl
    assert result.amdahl[-1].predicted - 0.35 < result.amdahl[-1].speedup, result.amdahl
    assert "░" in result.steps[2].result.timeline(80)
    consumers_restored(workers)


def test_the_quiz_command_scores_scripted_answers(start_workers, redis_env):
    start_workers(2)
    # jobs of 1 s, the course page's: with 0.3 s ones, a start delayed 0.2 s by a busy machine (the suite's own
    # processes, a compose cluster) made the stalls' speedup fall short of "paid off", and the quiz said so (exit 1)
    run = run_producer("quiz", "--duration", "1", "--no-amdahl", "--answers", "p,parallel,not", env=redis_env,
                       timeout_s=90)
    assert run.returncode == 0, run.stdout + run.stderr  # 1: a scene measured otherwise; stdout says which
    assert run.stdout.count("answer: NOT PARALLEL") == 2 and run.stdout.count("answer: PARALLEL") == 1
    assert "you got 2 of 3 right" in run.stdout and "you said 'parallel': not quite" in run.stdout
    assert all(len(line) <= 80 for line in run.stdout.splitlines() if not line.startswith("timeline:"))


def test_ask_needs_a_terminal_and_too_few_workers_are_one_line(start_workers, redis_env):
    start_workers(1)
    run = run_producer("quiz", "--ask", env=redis_env)
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0 and "--ask needs a terminal" in run.stderr
    run = run_producer("quiz", env=redis_env)
    assert run.returncode == 2
    assert run.stderr.startswith("producer: error: the quiz needs 2 workers on 'jobs', 1 online")


def test_ctrl_c_during_the_quiz_gives_every_worker_its_queues_back(start_workers, redis_env, redis_server):
    workers = start_workers(2)
    quiz = Background("quiz", "--duration", "2", env=redis_env)
    wait_for(workers.busy, 30, "the cashier to serve a first customer")  # the others wait in lines A and B
    quiz.proc.send_signal(signal.SIGINT)
    run = quiz.finish(60)
    assert run.returncode == 130, run.stderr
    assert "withdrew" in run.stderr
    consumers_restored(workers)
    assert all(redis_server.client().llen(q) == 0 for q in QUEUES)


def test_run_jobs_gives_figures_records_a_timeline_a_table_and_a_chart(start_workers):
    workers = start_workers(2)
    batch = api.run_jobs(jobs=4, duration=0.5, app=workers.app)
    assert batch.summary.speedup > 1.5 and len(batch.records) == 4 and not batch.failed
    assert "task1" in batch.timeline(80)
    assert len(batch.to_dataframe()) == 4
    assert batch.gantt().axes
