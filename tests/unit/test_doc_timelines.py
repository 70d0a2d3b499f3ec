"""The after-run timelines in the docs are what the code prints: each run is replayed from made-up records.

Each run the docs show is told as result records (builders.record, builders.cup_record): the
same workers, pids and task order, plausible timings. They go through the code the program
prints with: `producer.story.tell` and `print_text` at 120 columns for `--jobs 8` piped (COLUMNS
unset), `BatchResult.of` and the quiz's own report (`QuizResult.report`) at 80 columns for
`COLUMNS=80 python -m producer quiz`. A change to the layout, the legend or the figures fails
here, with the block to paste into the doc.
"""

from __future__ import annotations

import io

from rich.console import Console

from producer.experiments.course_quiz import SCENARIOS, AmdahlPoint, QuizResult, Step
from producer.figures import amdahl, summarize
from producer.jobs import Outcome
from producer.results import BatchResult
from producer.story import tell
from producer.submit import Collected
from producer.views.report import print_text
from tests.helpers import ROOT
from tests.unit.builders import T0, cup_record, doc_block, outcome, record

PRODUCER_DOC = ROOT / "docs" / "producer.md"
COURSE_DOC = ROOT / "docs" / "course.md"
PIPED_WIDTH = 120  # the report's width when piped without COLUMNS (producer.commands.main.stdout_console)
QUIZ_WIDTH = 80  # COLUMNS=80, as the course page runs the quiz
RECEIVED_AFTER_S = 0.002  # a result reaches the producer that long after its job finished
#: compose's 4 worker containers (prefork, one process each) in the order they take the first wave
COMPOSE = (("worker@f6fea622c933", 7), ("worker@8010b69fefdf", 8), ("worker@223cb1ae4907", 7),
           ("worker@01645689fc64", 9))
#: a local cluster of 4 workers on the machine `vm`: node name and the pid of its one pool process
CASHIER = ("local-2831b3@vm", 27147)
LOCAL = (("local-82fa6e@vm", 27117), CASHIER, ("local-83a7a8@vm", 27148), ("local-57ea87@vm", 27149))


def ran(i: int, worker: tuple[str, int], start: float, end: float, received_after_s: float = RECEIVED_AFTER_S,
        **kw) -> Outcome:
    """Job i of a batch (task1 and task2 in turn, submitted 1 ms apart), run by `worker` from `start` to `end`,
    its result received `received_after_s` later."""
    node, pid = worker
    make = cup_record if "held" in kw else record
    rec = make(start, end, task=f"task{i % 2 + 1}", task_id=f"id-{i}", worker=node,
               hostname=node.partition("@")[2], pid=pid, **kw)
    return outcome(rec, submitted=i * 0.001, received_after_s=received_after_s)


def wall_s(outcomes: list[Outcome]) -> float:
    """The producer's clock, first submit to last result."""
    return max((o.received_at - T0).total_seconds() for o in outcomes if o.received_at is not None)


def plain(console: Console) -> str:
    # a blank at a line's end shows as nothing on a terminal, and editors strip it from the doc
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


def assert_as_documented(printed: str, doc: str, first: str) -> None:
    assert printed == doc_block(ROOT / "docs" / doc, first), (
        f"docs/{doc}'s block starting {first!r} is no longer what the code prints; replace it with:\n{printed}")


def test_the_timeline_is_what_8_jobs_on_4_compose_workers_print_piped():
    """`docker compose run --rm producer --jobs 8`: two waves of 1 s; the second wave's jobs go to whoever
    asks first (8010b69fefdf, then f6fea622c933, which finished first but was a little slower to ask)."""
    first_wave = [ran(i, COMPOSE[i], 0.012 + 0.0015 * i, 1.013 + 0.0015 * i) for i in range(4)]
    second_wave = [ran(4 + k, COMPOSE[slot], start, start + 1.001)
                   for k, (slot, start) in enumerate(((1, 1.017), (0, 1.034), (2, 1.052), (3, 1.055)))]
    outcomes = first_wave + second_wave
    story = tell(outcomes)
    console = Console(width=PIPED_WIDTH, file=io.StringIO(), color_system=None)
    print_text(console, story, summarize(story, wall_s=wall_s(outcomes), slots_online=4))
    # the report: job lines, a blank line, the timeline, a blank line, the summary
    timeline = plain(console).split("\n\n")[1]
    assert timeline.startswith("timeline:") and "worker@f6fea622c933 pid 7 task1━" in timeline
    assert_as_documented(timeline, "producer.md", "timeline:")


def quiz_step(number: int, setup: str, slots: int, outcomes: list[Outcome]) -> Step:
    """Scene `number` (1-3) of the quiz as `run_quiz` makes it: the batch's result on `slots` slots."""
    collected = Collected(outcomes, wall_s(outcomes), submit_s=0.004)
    return Step(SCENARIOS[number - 1], setup, slots, BatchResult.of(collected, slots_online=slots))


def cashier() -> list[Outcome]:
    """One slot serves line A (task1) and line B (task2) in turn, each job taken 8 ms after the last one ended."""
    return [ran(i, CASHIER, 0.012 + 1.009 * i, 1.013 + 1.009 * i) for i in range(4)]


def showers() -> list[Outcome]:
    """4 stalls, 4 jobs at once; the last result reaches the producer 33 ms after its job ended."""
    return [ran(i, LOCAL[slot], start, start + 1.002, received_after_s=0.033)
            for i, (slot, start) in enumerate(((1, 0.009), (0, 0.011), (3, 0.013), (2, 0.015)))]


def one_cup() -> list[Outcome]:
    """4 jobs start together and take turns with the cup: each drinks 1 s, the next 2 ms after."""
    order = ((1, 1), (0, 3), (3, 0), (2, 2))  # (job, slot) in the order they get the cup
    out = {}
    for turn, (i, slot) in enumerate(order):
        start, drinks_from = 0.018 + 0.002 * turn, 0.018 + 1.003 * turn
        out[i] = ran(i, LOCAL[slot], start, drinks_from + 1.001, waited=drinks_from - start, held=1.001)
    return [out[i] for i in range(4)]


def test_the_quiz_prints_the_three_timelines_and_figures_of_the_course_page():
    """`COLUMNS=80 python -m producer quiz` on a local cluster of 4 workers, with the Amdahl variant as measured."""
    steps = [
        quiz_step(1, f"one worker slot ({CASHIER[0]}) consumes two queues: line A (quiz-line-a, task1 jobs) and "
                     "line B (quiz-line-b, task2 jobs); 2 jobs of 1 s wait in each", 1, cashier()),
        quiz_step(2, "4 worker slots consume quiz-stalls; 4 jobs of 1 s, one per stall", 4, showers()),
        quiz_step(3, "4 worker slots, 4 jobs of 1 s; each must hold the one cup (a Redis lock) while it drinks",
                  4, one_cup()),
    ]
    assert [step.agrees for step in steps] == [True, True, True]
    summaries = [step.result.summary for step in steps]
    assert [s.peak_overlap for s in summaries] == [1, 4, 1] and summaries[2].waited_for_cup_s > 5.9
    measured = (0.96, 1.32, 1.49, 1.58)  # the variant's speedups on 1..4 workers, as that run measured them
    points = [AmdahlPoint(k, k, speedup, amdahl(0.5, k)) for k, speedup in enumerate(measured, 1)]
    report = QuizResult(steps, points).report(QUIZ_WIDTH)
    first = "The course page's quiz on 4 workers"
    # the title comes from the command (producer.commands.quiz), not the report: as the doc has it
    title = doc_block(COURSE_DOC, first).split("\n1. ")[0]
    assert_as_documented(f"{title}\n{report}", "course.md", first)


def test_every_timeline_in_the_docs_is_checked_here():
    """A new block drawn by producer.views.timeline (its legend, its axis) needs a replay above."""
    checked = {"producer.md": 1, "course.md": 3}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        lines = doc.read_text().splitlines()
        legends = sum(1 for line in lines if line.startswith("timeline: one row per worker slot"))
        axes = sum(1 for line in lines if line.lstrip().startswith("┬─") and "┬" in line.lstrip()[1:])
        assert legends == axes == checked.get(doc.name, 0), f"{doc.name}: {legends} timelines, {axes} axes"

