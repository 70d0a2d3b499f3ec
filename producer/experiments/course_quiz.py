"""The course page's quiz, run for real: for three everyday scenes, are the tasks executed in parallel?

- one cashier serves two lines: one worker slot consumes two queues (line A, line B): not parallel;
- a pool's shower stalls: N worker slots, N jobs at once: parallel;
- people taking turns drinking from one cup: N slots, but each job must hold the one cup (a
  lock in Redis) while it drinks: not parallel. When only part of each job needs the cup,
  the speedup follows Amdahl's law.

Each scene runs on queues of its own (quiz-*), which Celery's remote control hands to the
chosen workers for the scene and takes back afterwards, even on Ctrl-C (producer.experiments.sweep.only).
The scenes and the judging are pure; `run_quiz` is the one part that talks to the cluster.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from celery import Celery

from cluster.errors import UsageError
from cluster.workers import Worker
from producer.experiments.sweep import only, restore
from producer.figures import Summary, amdahl
from producer.figures import judge as verdict_of
from producer.jobs import Job
from producer.results import BatchResult
from producer.submit import run_batch
from producer.views.progress import Shown

PARALLEL, NOT_PARALLEL = "parallel", "not parallel"
ANSWERS = (PARALLEL, NOT_PARALLEL)
LINE_A, LINE_B, STALLS, CUP = "quiz-line-a", "quiz-line-b", "quiz-stalls", "quiz-cup"
#: The quiz's own queues: nobody consumes them before or after the quiz.
QUEUES = (LINE_A, LINE_B, STALLS, CUP)
#: The cashier's customers: 2 jobs wait in each line.
CUSTOMERS = 4
#: Share of each job that needs the cup in the Amdahl variant (the rest runs side by side).
AMDAHL_CUP_SHARE = 0.5
#: What a learner may type for each answer.
SYNONYMS = {PARALLEL: ("parallel", "p", "yes", "y"), NOT_PARALLEL: ("not parallel", "not", "n", "no", "np")}


@dataclass(frozen=True)
class Scenario:
    """One question of the quiz, in the course page's words, with its answer and why."""

    key: str
    question: str
    answer: str
    reason: str  # {n}: the worker slots the scene runs on


SCENARIOS = (
    Scenario("cashier", "One cashier serves two lines of people in a store.", NOT_PARALLEL,
             "one cashier serves the two lines in turn, never two customers at once (peak overlap 1): "
             "the lines are concurrent, not parallel"),
    Scenario("showers", "A swimming pool offers multiple shower stalls.", PARALLEL,
             "each of the {n} stalls serves a swimmer at the same time: {n} showers take about the time of one "
             "(speedup about {n})"),
    Scenario("cup", "Multiple people take turns drinking from a cup.", NOT_PARALLEL,
             "there is one cup: {n} people stand ready but one drinks at a time (peak overlap 1, speedup about 1, "
             "however many workers)"),
)


def parse_answer(text: str) -> str:
    """`parallel` or `not parallel` from what a learner typed (p, yes, not, no, ...); ValueError otherwise."""
    said = " ".join(text.strip().lower().replace("-", " ").replace("_", " ").split())
    for answer, words in SYNONYMS.items():
        if said in words:
            return answer
    raise ValueError(f"answer 'parallel' or 'not parallel' (or p / not), not {text!r}")


def judge(summary: Summary) -> str:
    """What the measurement says, by the one verdict (producer.figures.judge): parallel when jobs
    made progress at the same time and it paid off.

    Waiting for the cup does not count as running (producer.figures.working), so jobs that
    only took turns have a peak overlap of 1.
    """
    return PARALLEL if verdict_of(summary).paid_off else NOT_PARALLEL


@dataclass
class Step:
    """One scene as it ran: what was set up, the batch, what the measurement says, and the learner's answer."""

    scenario: Scenario
    setup: str
    slots: int
    result: BatchResult
    given: str | None = None  # the learner's answer, when asked

    @property
    def measured(self) -> str:
        return judge(self.result.summary)

    @property
    def agrees(self) -> bool:
        """Whether the measurement says what the course page says (it may not, on a machine far too busy)."""
        return self.measured == self.scenario.answer

    @property
    def right(self) -> bool | None:
        return None if self.given is None else self.given == self.scenario.answer


@dataclass(frozen=True)
class AmdahlPoint:
    """The cup variant on k workers: measured speedup next to Amdahl's law."""

    workers: int
    slots: int
    speedup: float
    predicted: float  # amdahl(1 - cup share, slots)


@dataclass
class QuizResult:
    """The three scenes as they ran, the Amdahl variant, and the learner's score when asked."""

    steps: list[Step]
    amdahl: list[AmdahlPoint] = field(default_factory=list)
    cup_share: float = AMDAHL_CUP_SHARE

    @property
    def answers(self) -> list[str]:
        """What the measurements say, scene by scene."""
        return [step.measured for step in self.steps]

    def report(self, width: int = 80) -> str:
        """The whole quiz as the command line prints it."""
        lines = []
        for number, step in enumerate(self.steps, 1):
            lines += step_lines(number, step, width) + [""]
        if self.amdahl:
            lines += amdahl_lines(self.amdahl, self.cup_share) + [""]
        lines.append(score_line(self.steps))
        return "\n".join(lines)

    def amdahl_figure(self) -> object:
        """Measured speedup against workers next to Amdahl's curve (a matplotlib Figure)."""
        from producer.views.plot import pyplot, speedup_figure

        fig = speedup_figure([vars(p) for p in self.amdahl], predicted="predicted",
                             predicted_label=f"Amdahl: 1 / ((1 - p) + p / N), p = {1 - self.cup_share:g}")
        pyplot().close(fig)
        return fig


def step_lines(number: int, step: Step, width: int = 80) -> list[str]:
    """Question, setup, timeline, figures, answer and reason (and whether the learner was right)."""
    s, scenario = step.result.summary, step.scenario
    lines = [f"{number}. {scenario.question} Parallel or not?", f"   setup: {step.setup}"]
    if step.given is not None:
        lines.append(f"   your answer: {step.given}")
    out = [wrapped for line in lines for wrapped in textwrap.wrap(line, width, subsequent_indent="     ")]
    out += ["", step.result.timeline(width), ""]
    lines = []
    speedup = "n/a" if s.speedup is None else f"{s.speedup:.2f}x"
    efficiency = "n/a" if s.efficiency is None else f"{s.efficiency:.2f}"
    figures = f"   work {s.work_s:.1f} s, wall {s.wall_s:.2f} s: speedup {speedup}, peak overlap {s.peak_overlap}, " \
              f"efficiency {efficiency}"
    if s.waited_for_cup_s:
        figures += f", waited for the cup {s.waited_for_cup_s:.1f} s"
    lines.append(figures)
    lines.append(f"   answer: {scenario.answer.upper()}: {scenario.reason.format(n=step.slots)}")
    if not step.agrees:
        lines.append(f"   (this run measured '{step.measured}': is the machine very busy? try again)")
    if step.right is not None:
        lines.append("   you were right" if step.right else f"   you said '{step.given}': not quite")
    return out + [wrapped for line in lines for wrapped in textwrap.wrap(line, width, subsequent_indent="     ")]


def amdahl_lines(points: list[AmdahlPoint], cup_share: float) -> list[str]:
    """The cup variant as a small table: measured speedup next to Amdahl's law."""
    p = 1 - cup_share
    lines = [f"When only {cup_share:.0%} of each job needs the cup, the rest runs side by side.",
             f"Amdahl's law: speedup = 1 / ((1 - p) + p / N), p = {p:g} (the parallel share).",
             "   workers  slots  measured  Amdahl"]
    lines += [f"   {pt.workers:>7}  {pt.slots:>5}  {pt.speedup:>7.2f}x  {pt.predicted:>5.2f}x" for pt in points]
    lines.append(f"   however many workers, never above {1 / cup_share:.0f}x: the cup's share takes turns")
    return lines


def score_line(steps: list[Step]) -> str:
    """Your score, or the three answers when nobody was asked."""
    if all(step.given is None for step in steps):
        return "answers: " + ", ".join(f"{step.scenario.key} {step.measured}" for step in steps)
    right = sum(1 for step in steps if step.right)
    return f"you got {right} of {len(steps)} right"


def cashier_worker(workers: list[Worker]) -> Worker:
    """A worker with exactly one slot: the one cashier. UsageError when none of `workers` has one."""
    for worker in workers:
        if worker.slots == 1:
            return worker
    raise UsageError("the cashier needs a worker with one process (WORKER_CONCURRENCY=1 / --concurrency 1)")


def _batch(app: Celery, jobs: list[Job], slots: int, timeout_s: float, shown: Shown) -> BatchResult:
    collected = run_batch(app, jobs, timeout_s, on_result=shown.on_result, on_submitted=shown.on_submitted)
    return BatchResult.of(collected, slots_online=slots)


def scene_label(scenario: Scenario) -> str:
    """`scene 2 of 3 (showers)`: which scene runs, as the progress names it."""
    return f"scene {SCENARIOS.index(scenario) + 1} of {len(SCENARIOS)} ({scenario.key})"


def run_quiz(app: Celery, online: list[Worker], chosen: list[Worker], duration_s: float = 1.0,
             timeout_s: float = 120.0, ask: Callable[[Scenario], str] | None = None,
             on_step: Callable[[Step], None] | None = None, amdahl_steps: bool = True,
             shown: Shown | None = None) -> QuizResult:
    """Run the three scenes on `chosen` workers (of the `online` ones), then the Amdahl variant.

    `ask` is called before each scene and returns the learner's answer; `on_step` gets each
    scene as soon as it ran. Each scene and each Amdahl step is a part of `shown`, its switch of
    consumers included; the question is asked before the part begins, so no bar is drawn under it.
    Every worker's consumers are put back in the `finally`
    (nobody consumes the quiz's queues afterwards); run_batch withdraws the jobs on Ctrl-C.
    """
    shown = shown if shown is not None else Shown()
    if len(chosen) < 2:
        raise UsageError(f"the quiz needs at least 2 workers, {len(chosen)} chosen")
    everyone = [w.name for w in online]
    names = [w.name for w in chosen]
    slots = sum(w.slots for w in chosen)
    cashier = cashier_worker(chosen)
    cup_name = f"quiz-{uuid.uuid4().hex}"  # a cup of this run only: a leftover lock never blocks another
    steps: list[Step] = []

    def scene(scenario: Scenario, setup: str, n: int, jobs: int, run: Callable[[], BatchResult]) -> None:
        given = ask(scenario) if ask else None
        with shown.part(scene_label(scenario), jobs):
            result = run()
        step = Step(scenario, setup, n, result, given)
        steps.append(step)
        if on_step:
            on_step(step)

    def cashier_batch() -> BatchResult:
        with only(app, (LINE_A, LINE_B), everyone, [cashier.name], after=[]):
            jobs = [Job("task1", duration_s, queue=LINE_A) if i % 2 == 0 else Job("task2", duration_s, queue=LINE_B)
                    for i in range(CUSTOMERS)]
            return _batch(app, jobs, 1, timeout_s, shown)

    def stalls_batch() -> BatchResult:
        with only(app, STALLS, everyone, names, after=[]):
            return _batch(app, [Job(("task1", "task2")[i % 2], duration_s, queue=STALLS) for i in range(slots)],
                          slots, timeout_s, shown)

    def cup_batch(k_names: list[str], k_slots: int, share: float) -> BatchResult:
        with only(app, CUP, everyone, k_names, after=[]):
            jobs = [Job(("task1", "task2")[i % 2], duration_s, queue=CUP, cup=share, cup_name=cup_name)
                    for i in range(k_slots)]
            return _batch(app, jobs, k_slots, timeout_s, shown)

    points = []
    try:
        scene(SCENARIOS[0], f"one worker slot ({cashier.name}) consumes two queues: line A ({LINE_A}, task1 "
                            f"jobs) and line B ({LINE_B}, task2 jobs); {CUSTOMERS // 2} jobs of {duration_s:g} s "
                            "wait in each", 1, CUSTOMERS, cashier_batch)
        scene(SCENARIOS[1], f"{slots} worker slots consume {STALLS}; {slots} jobs of {duration_s:g} s, one per stall",
              slots, slots, stalls_batch)
        scene(SCENARIOS[2], f"{slots} worker slots, {slots} jobs of {duration_s:g} s; each must hold the one cup "
                            f"(a Redis lock) while it drinks", slots, slots, lambda: cup_batch(names, slots, 1.0))
        if amdahl_steps:
            for k in range(1, len(chosen) + 1):
                k_slots = sum(w.slots for w in chosen[:k])
                with shown.part(f"Amdahl on {k} of {len(chosen)} workers", k_slots):
                    s = cup_batch(names[:k], k_slots, AMDAHL_CUP_SHARE).summary
                points.append(AmdahlPoint(k, k_slots, s.speedup or 0.0, amdahl(1 - AMDAHL_CUP_SHARE, k_slots)))
    finally:
        for queue in QUEUES:  # checked, and sent again until every worker says so
            restore(app, queue, everyone, consumers=[])
    return QuizResult(steps, points)
