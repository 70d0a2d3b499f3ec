"""A run off a terminal says it is alive and how far it got (issue #31): a plain line on stderr at a
steady pace, none for a short run, and nothing new on a terminal. compare, sweep and quiz too, each
line naming the part that runs (a row, a point, a scene)."""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time

import pytest
from rich.console import Console

from cluster.workers import Worker
from producer import api
from producer.commands import quiz as quiz_command
from producer.experiments import compare, course_quiz, sweep
from producer.results import BatchResult
from producer.submit import Collected
from producer.views import progress
from producer.views.progress import Bar, PlainLines, Shown, run_progress
from tests.unit.builders import outcome, record, waves


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lines_come_every_5_s_then_every_30_s_and_none_in_between():
    clock, written = Clock(), []
    lines = PlainLines(100_000, written.append, clock)
    at = []
    for step in range(1, 2 * 180 + 1):  # three minutes, looked at every 0.5 s as the thread does
        clock.now = 1000.0 + step * 0.5
        if lines.tick():
            at.append(clock.now - 1000.0)
    assert at[:11] == [5.0 * n for n in range(1, 12)]  # alive: a line every 5 s in the first minute
    assert at[11:] == [85.0, 115.0, 145.0, 175.0]  # then every 30 s: no flood in an hour's run
    assert len(written) == len(at)


def test_a_short_run_adds_no_line():
    clock, written = Clock(), []
    lines = PlainLines(2, written.append, clock)
    clock.now += progress.EVERY_S - 0.01
    assert not lines.tick() and written == []


def test_a_line_says_how_far_the_submission_and_the_results_got():
    clock, written = Clock(), []
    lines = PlainLines(100_000, written.append, clock)
    lines.on_submitted(40_960)
    for status in ("SUCCESS", "SUCCESS", "FAILURE"):
        lines.on_result(outcome(status=status))
    clock.now += 5.2
    assert lines.tick()
    lines.on_submitted(100_000)
    clock.now += 5
    assert lines.tick()
    assert written == ["run 5 s: 40960 of 100000 jobs submitted, 3 finished, 1 failed",
                       "run 10 s: 3 of 100000 jobs finished, 1 failed"]


def test_a_terminal_keeps_its_bar_and_no_progress_shows_nothing():
    terminal = Console(file=io.StringIO(), force_terminal=True, width=80)
    with run_progress(terminal, 8, "8 jobs on 4 slots") as shown:
        assert isinstance(shown, Bar)
    piped = Console(file=io.StringIO(), force_terminal=False)
    with run_progress(piped, 8, "8 jobs", show=False) as shown:
        assert type(shown) is Shown
    assert piped.file.getvalue() == ""



def lines_paced_fast(monkeypatch) -> threading.Event:
    """Plain lines every 0.05 s (looked at every 0.01 s); returns an event set once one is written."""
    monkeypatch.setattr(progress, "EVERY_S", 0.05)
    monkeypatch.setattr(progress, "TICK_S", 0.01)
    wrote = threading.Event()
    tick = PlainLines.tick

    def noted_tick(self):
        done = tick(self)
        if done:
            wrote.set()
        return done

    monkeypatch.setattr(PlainLines, "tick", noted_tick)
    return wrote


def test_a_piped_run_prints_progress_lines_on_stderr_while_it_waits(monkeypatch, capsys):
    """`producer --jobs 3 | cat`: the command, with the cluster faked, says how far it got while it waits."""
    from producer.commands.main import main

    wrote = lines_paced_fast(monkeypatch)
    monkeypatch.setattr(api, "ready", lambda app, queue, on_wait=None: api.Ready(queue, [], 2, 0))
    done = [outcome(record(0, 1, task_id=f"id-{i}", hostname=f"h{i}"), task_id=f"id-{i}") for i in range(3)]

    def run_on(app, found, jobs, timeout_s, on_result=None, events=None, on_submitted=None):
        if on_submitted:  # told how far the submission got
            on_submitted(3)
        on_result(done[0])
        deadline = time.monotonic() + 5  # the line comes from the progress thread: wait for it, bounded
        while not wrote.is_set() and time.monotonic() < deadline:
            wrote.wait(0.01)
        for o in done[1:]:
            on_result(o)
        return BatchResult.of(Collected(done, wall_s=1.0, submit_s=0.01), slots_online=2, queued_ahead=0)

    monkeypatch.setattr(api, "run_on", run_on)
    with pytest.raises(SystemExit) as exit_info:
        main(["--jobs", "3", "--no-timeline"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    assert "run 0 s: 1 of 3 jobs finished" in err.splitlines()
    assert "summary" in out and not [line for line in out.splitlines() if line.startswith("run ")]  # stdout: the report


# --- commands that run their jobs in parts: compare's rows, sweep's points, the quiz's scenes ---------------------


def test_a_part_is_named_in_the_line_and_counted_afresh():
    clock, written = Clock(), []
    lines = PlainLines(0, written.append, clock, name="sweep", parts=True)
    with lines.part("1 of 2 workers", 4):
        lines.on_submitted(4)
        for status in ("SUCCESS", "FAILURE"):
            lines.on_result(outcome(status=status))
        clock.now += 5
        assert lines.tick()
    with lines.part("2 of 2 workers", 4):
        clock.now += 5
        assert lines.tick()
    assert written == ["sweep 5 s: 1 of 2 workers, 2 of 4 jobs finished, 1 failed",
                       "sweep 10 s: 2 of 2 workers, 0 of 4 jobs submitted, 0 finished"]


def test_the_pace_runs_across_parts_shorter_than_a_pause():
    """Ten sweep points of 2 s each: a line every 5 s all the same (a pace per part would write none)."""
    clock, written = Clock(), []
    lines = PlainLines(0, written.append, clock, name="sweep", parts=True)
    for k in range(1, 11):
        with lines.part(f"{k} of 10 workers", 8):
            lines.on_submitted(8)
            for _ in range(4):  # looked at every 0.5 s, as the thread does
                clock.now += 0.5
                lines.tick()
    assert written == ["sweep 5 s: 3 of 10 workers, 0 of 8 jobs finished",
                       "sweep 10 s: 5 of 10 workers, 0 of 8 jobs finished",
                       "sweep 15 s: 8 of 10 workers, 0 of 8 jobs finished",
                       "sweep 20 s: 10 of 10 workers, 0 of 8 jobs finished"]


def test_nothing_is_written_before_the_first_part_nor_between_two():
    """Between two scenes the quiz may wait for the learner's answer: no job runs, no line says one does."""
    clock, written = Clock(), []
    lines = PlainLines(0, written.append, clock, name="quiz", parts=True)
    clock.now += 10
    assert not lines.tick()
    with lines.part("scene 1 of 3 (cashier)", 4):
        assert lines.tick()  # the pause is long over: said at once
    clock.now += 60
    assert not lines.tick()
    assert written == ["quiz 10 s: scene 1 of 3 (cashier), 0 of 4 jobs submitted, 0 finished"]


def test_a_part_without_jobs_in_redis_is_said_by_its_name_alone():
    clock, written = Clock(), []
    lines = PlainLines(0, written.append, clock, name="compare", parts=True)
    with lines.part("cpu jobs one after another here", 0):
        clock.now += 5
        assert lines.tick()
    assert written == ["compare 5 s: cpu jobs one after another here"]


def test_on_a_terminal_each_part_has_a_bar_drawn_only_while_it_runs():
    terminal = Console(file=io.StringIO(), force_terminal=True, width=80)
    with progress.parts_progress(terminal, "sweep") as shown:
        assert isinstance(shown, Bar) and not shown.progress.live.is_started  # nothing before the first part
        with shown.part("1 of 2 workers", 4):
            shown.on_result(outcome(status="SUCCESS"))
            (task,) = shown.progress.tasks
            assert shown.progress.live.is_started
            assert (task.description, task.total, task.completed) == ("sweep: 1 of 2 workers", 4, 1)
        assert not shown.progress.live.is_started  # gone before the command prints (a quiz's next question)
        with shown.part("cpu jobs one after another here", 0):
            (task,) = shown.progress.tasks
            assert task.total is None and task.completed == 0  # a pulse: no jobs to count
    assert "sweep: 1 of 2 workers" in terminal.file.getvalue()


def test_piped_a_command_of_parts_ticks_plain_lines_under_its_name_and_no_progress_shows_nothing():
    piped = Console(file=io.StringIO(), force_terminal=False)
    with progress.parts_progress(piped, "quiz") as shown:
        assert isinstance(shown, PlainLines) and (shown.name, shown.between_parts) == ("quiz", True)
    with progress.parts_progress(piped, "quiz", show=False) as shown, shown.part("scene 1 of 3 (cashier)", 4):
        assert type(shown) is Shown
    assert piped.file.getvalue() == ""


class Batches:
    """A made-up run_batch that tells its callbacks about every job and writes a line in the middle, as
    the ticking thread would: what each experiment's progress says, on a clock moved 5 s a batch."""

    def __init__(self, lines: PlainLines, clock: Clock) -> None:
        self.lines, self.clock = lines, clock

    def __call__(self, app, jobs, timeout_s, on_result=None, on_submitted=None) -> Collected:
        done = waves(len(jobs), hosts=2)
        on_submitted(len(jobs))
        on_result(done[0])
        self.clock.now += 5
        self.lines.tick()
        for o in done[1:]:
            on_result(o)
        return Collected(done, wall_s=1.0, submit_s=0.01)


def experiment(monkeypatch, module, name: str) -> tuple[list[str], PlainLines]:
    """Plain lines named `name`, fed by `module`'s batches (run_batch made up, no consumer switched),
    and what they write."""
    clock, written = Clock(), []
    lines = PlainLines(0, written.append, clock, name=name, parts=True)
    monkeypatch.setattr(module, "run_batch", Batches(lines, clock))
    if hasattr(module, "only"):
        monkeypatch.setattr(module, "only", lambda *_, **__: contextlib.nullcontext())
    if hasattr(module, "restore"):
        monkeypatch.setattr(module, "restore", lambda *_, **__: set())
    return written, lines


def test_compare_names_each_row_as_it_runs(monkeypatch):
    written, lines = experiment(monkeypatch, compare, "compare")
    online = [Worker("worker@p", ("jobs",), 2), Worker("worker@t", ("jobs-threads",), 4, pool="threads")]
    rows, skipped = compare.compare(None, online, 2, 0.0, ("sleep", "cpu"), "jobs", 60, shown=lines)
    assert written == ["compare 5 s: sleep jobs on processes, 1 of 2 jobs finished",
                       "compare 10 s: sleep jobs on threads, 1 of 2 jobs finished",
                       "compare 15 s: cpu jobs on processes, 1 of 2 jobs finished",
                       "compare 20 s: cpu jobs on threads, 1 of 2 jobs finished"]
    assert len(rows) == 6 and len(skipped) == 1  # the progress changed nothing of the comparison


def test_sweep_names_each_point_as_it_runs(monkeypatch):
    written, lines = experiment(monkeypatch, sweep, "sweep")
    workers = [Worker(f"worker@{i}", ("jobs",), 1) for i in range(3)]
    points = sweep.sweep(None, workers, "jobs", 4, 0.5, "sleep", 60, shown=lines)
    assert written == [f"sweep {5 * k} s: {k} of 3 workers, 1 of 4 jobs finished" for k in (1, 2, 3)]
    assert [p.workers for p in points] == [1, 2, 3]


def test_the_quiz_names_each_scene_and_amdahl_step_as_it_runs(monkeypatch):
    written, lines = experiment(monkeypatch, course_quiz, "quiz")
    workers = [Worker("worker@a", ("jobs",), 1), Worker("worker@b", ("jobs",), 2)]
    result = course_quiz.run_quiz(None, workers, workers, 0.5, 60, shown=lines)
    assert written == ["quiz 5 s: scene 1 of 3 (cashier), 1 of 4 jobs finished",
                       "quiz 10 s: scene 2 of 3 (showers), 1 of 3 jobs finished",
                       "quiz 15 s: scene 3 of 3 (cup), 1 of 3 jobs finished",
                       "quiz 20 s: Amdahl on 1 of 2 workers, 1 of 1 jobs finished",
                       "quiz 25 s: Amdahl on 2 of 2 workers, 1 of 3 jobs finished"]
    assert len(result.steps) == 3 and len(result.amdahl) == 2


@pytest.fixture
def a_piped_cluster(monkeypatch):
    """Three workers (one with a single slot, the quiz's cashier) and batches that wait, bounded, until the
    progress thread wrote a line: `producer compare|sweep|quiz | cat` with the cluster faked. Returns the
    event that says a line was written."""
    wrote = lines_paced_fast(monkeypatch)

    def run_batch(app, jobs, timeout_s, on_result=None, on_submitted=None):
        done = waves(len(jobs), hosts=2)
        on_submitted(len(jobs))
        on_result(done[0])
        wrote.wait(5)  # the line comes from the progress thread: wait for it, bounded
        for o in done[1:]:
            on_result(o)
        return Collected(done, wall_s=1.0, submit_s=0.01)

    workers = [Worker("worker@a", ("jobs",), 1), Worker("worker@b", ("jobs",), 2), Worker("worker@c", ("jobs",), 2)]
    for module in (compare, sweep, course_quiz):
        monkeypatch.setattr(module, "run_batch", run_batch)
    for module in (sweep, course_quiz):
        monkeypatch.setattr(module, "only", lambda *_, **__: contextlib.nullcontext())
        monkeypatch.setattr(module, "restore", lambda *_, **__: set())
    monkeypatch.setattr(api, "flavours_online", lambda app, queue: workers)
    monkeypatch.setattr(api, "workers_on", lambda app, queue, on_wait=None: workers)
    monkeypatch.setattr(quiz_command, "quiz_workers", lambda app, n: (workers, workers))
    return wrote


@pytest.mark.parametrize("args, first", [
    (["compare", "--jobs", "2", "--duration", "0", "--kind", "sleep"], r"compare \d+ s: sleep jobs on processes, "),
    (["sweep", "--jobs", "4", "--duration", "0"], r"sweep \d+ s: 1 of 3 workers, "),
    (["quiz", "--no-amdahl", "--answers", "not,p,not", "--duration", "0.05"],
     r"quiz \d+ s: scene 1 of 3 \(cashier\), "),
], ids=["compare", "sweep", "quiz"])
def test_piped_compare_sweep_and_quiz_say_on_stderr_which_part_runs(a_piped_cluster, capsys, args, first):
    from producer.commands.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    assert exit_info.value.code in (0, 1), err  # 1: the made-up quiz scenes need not agree with the page
    assert any(re.fullmatch(first + r"1 of \d+ jobs finished", line) for line in err.splitlines()), err
    assert not re.search(r"^(compare|sweep|quiz) \d+ s: ", out, re.MULTILINE)  # stdout: the report alone


def test_no_progress_keeps_a_piped_sweep_quiet(a_piped_cluster, capsys, monkeypatch):
    from producer.commands.main import main

    monkeypatch.setattr(progress, "ticking", None)  # would fail if plain lines were set up at all
    a_piped_cluster.set()  # no line will come: the batches need not wait for one
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", "--jobs", "4", "--duration", "0", "--no-progress"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0, err
    assert not re.search(r"^sweep \d+ s: ", err, re.MULTILINE)
