"""`python -m producer quiz`: the course page's quiz run on the cluster (a shell over
producer.experiments.course_quiz, on the workers producer.api.quiz_workers chooses)."""

from __future__ import annotations

import shutil
import sys
import textwrap

import click

from cluster.errors import UsageError
from producer.api import default_timeout, quiz_workers
from producer.commands.options import PROGRESS_OPTION, Number, WholeNumber, err_console
from producer.experiments import course_quiz as quizzes
from producer.views.progress import parts_progress
from worker import app


def _answers(_: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    try:
        given = [quizzes.parse_answer(a) for a in value.split(",")]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from None
    if len(given) != len(quizzes.SCENARIOS):
        raise click.BadParameter(f"give {len(quizzes.SCENARIOS)} answers separated by commas, e.g. "
                                 "'not,parallel,not'", param=param)
    return given


class Answer(click.ParamType):
    """`parallel` or `not parallel` from what a learner typed; anything else is asked again (click.prompt)."""

    name = "answer"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return quizzes.parse_answer(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _prompt(scenario: quizzes.Scenario) -> str:
    question = f"{scenario.question} Are the tasks executed in parallel or not?"
    click.echo("\n" + textwrap.fill(question, terminal_width()))
    return click.prompt("your answer (parallel / not)", type=Answer())


def terminal_width() -> int:
    """Columns to wrap at: the terminal's, at most 100 (COLUMNS when piped, else 80)."""
    return min(100, shutil.get_terminal_size((80, 24)).columns)


@click.command(short_help="The course page's quiz, run on the cluster: parallel or not?")
@click.option("--ask", is_flag=True, help="Ask for your answer before each scene runs, and say if it was right.")
@click.option("--answers", callback=_answers, metavar="A,B,C",
              help="Your three answers for a script, e.g. 'not,parallel,not' (p / parallel, not / not parallel).")
@click.option("--workers", "-w", type=WholeNumber(2, 64), default=None,
              help="Workers to use (each of their slots is a stall or a drinker) [default: all on QUEUE, at least 2].")
@click.option("--duration", "-d", type=Number(0.05, 10), default=1.0, show_default=True,
              help="Seconds each job takes.")
@click.option("--no-amdahl", is_flag=True, help="Skip the variant where only half of each job needs the cup.")
@PROGRESS_OPTION
def quiz(ask: bool, answers: list[str] | None, workers: int | None, duration: float, no_amdahl: bool,
         progress: bool) -> int:
    """For three scenes of the course page, run the tasks on the cluster and see: parallel or not?

    One cashier for two lines (one worker slot, two queues); a pool's shower stalls (N slots,
    N jobs); people taking turns drinking from one cup (N slots, one Redis lock). The quiz
    uses queues of its own and gives every worker back its queues afterwards, even on Ctrl-C.
    """
    if ask and answers:
        raise UsageError("--ask or --answers, not both")
    if ask and not sys.stdin.isatty():
        raise UsageError("--ask needs a terminal to ask on; for a script give --answers 'not,parallel,not'")
    online, chosen = quiz_workers(app, workers)
    slots = sum(w.slots for w in chosen)
    click.echo(textwrap.fill(f"The course page's quiz on {len(chosen)} workers ({slots} slots), {duration:g} s "
                             "jobs: for each scene, are the tasks executed in parallel or not?", terminal_width()),
               err=True)
    ask_fn = _prompt if ask else (lambda scenario: answers[quizzes.SCENARIOS.index(scenario)]) if answers else None
    numbered = iter(range(1, len(quizzes.SCENARIOS) + 1))

    def show(step: quizzes.Step) -> None:
        click.echo("\n".join(quizzes.step_lines(next(numbered), step, terminal_width())) + "\n")

    with parts_progress(err_console(), "quiz", show=progress) as shown:
        result = quizzes.run_quiz(app, online, chosen, duration, default_timeout(2 * slots, duration), ask=ask_fn,
                                  on_step=show, amdahl_steps=not no_amdahl, shown=shown)
    if result.amdahl:
        click.echo("\n".join(quizzes.amdahl_lines(result.amdahl, result.cup_share)) + "\n")
    click.echo(quizzes.score_line(result.steps))
    return 0 if all(step.agrees for step in result.steps) else 1
