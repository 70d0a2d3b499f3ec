"""The producer's command line: `python -m producer [run] --jobs 8 --duration 1 --json`.

Errors are handled once, here: one line on stderr and a named exit code, never a traceback
(set PRODUCER_DEBUG=1 to see one).
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from producer.cluster import check_brokers, consuming, online_workers, ready_workers
from producer.compare import compare as compare_flavours
from producer.compare import flavours
from producer.errors import RET_JOBS_FAILED, RET_OK, RET_USAGE, NoWorkers, ProducerError
from producer.live import live_run, watch
from producer.plot import gantt, pyplot, speedup_curve
from producer.report import json_document, print_text
from producer.submit import TASKS, Outcome, plan, run_batch
from producer.summary import summarize
from producer.sweep import restore
from producer.sweep import sweep as sweep_workers
from producer.trace import write_trace
from worker import app, config
from worker.records import KINDS, MAX_DURATION_S

MAX_JOBS = 100_000  # a bound, so a typo cannot flood Redis


class DefaultGroup(click.Group):
    """A group whose bare options go to `run`, so `python -m producer --jobs 8` just works."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Without a command, `run` runs: see `python -m producer run --help` for its options.")
def cli() -> None:
    """Submit task1/task2 jobs to the Celery cluster and show whether they ran in parallel."""


def finite(_: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Reject nan, which passes click's range checks."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number", param=param)
    return value


def writable(_: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Check an output file can be written before any job is submitted, not after."""
    if value is None:
        return None
    folder = value.parent if str(value.parent) else Path(".")
    if not folder.is_dir():
        raise click.BadParameter(f"folder {str(folder)!r} does not exist", param=param)
    if not os.access(folder, os.W_OK) or (value.exists() and not os.access(value, os.W_OK)):
        raise click.BadParameter(f"cannot write {str(value)!r}", param=param)
    return value


def default_timeout(jobs: int, duration_s: float) -> float:
    """Twice the sequential time, plus the visibility timeout and 30 s.

    Generous even when only one worker is up, and long enough for a job whose worker died
    to be redelivered (Redis holds it back for the visibility timeout, then up to 10 s more).
    """
    return 2.0 * jobs * duration_s + config.VISIBILITY_TIMEOUT + 30.0


@cli.command()
@click.option("--jobs", "-n", type=click.IntRange(1, MAX_JOBS), default=2, show_default=True,
              help="How many jobs to submit, alternating task1 and task2.")
@click.option("--duration", "-d", type=click.FloatRange(0, MAX_DURATION_S), default=1.0, show_default=True,
              callback=finite, help="Seconds each job takes.")
@click.option("--kind", type=click.Choice(KINDS), default="sleep", show_default=True,
              help="sleep: wait (needs no CPU); cpu: burn pure-Python CPU for that long.")
@click.option("--task", "tasks", type=click.Choice(TASKS), multiple=True,
              help="Submit only this task (repeatable) [default: task1 and task2 in turn].")
@click.option("--queue", "-q", default=config.QUEUE, show_default=True, help="Queue to submit to.")
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, callback=finite,
              help="Share of jobs that fail for good (to see a FAILURE reported).")
@click.option("--flaky-rate", type=click.FloatRange(0, 1), default=0.0, callback=finite,
              help="Share of jobs that fail once and are retried with backoff.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=None, callback=finite,
              help="Seconds to wait for all results [default: 2 x jobs x duration + VISIBILITY_TIMEOUT + 30].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the report.")
@click.option("--progress/--no-progress", default=True, help="Progress bar while waiting (on a terminal).")
@click.option("--live/--no-live", default=True,
              help="On a terminal, draw the run live from the cluster's events (lanes, queue) while waiting.")
@click.option("--timeline/--no-timeline", default=True, help="Draw the run per worker in the terminal.")
@click.option("--trace", type=click.Path(dir_okay=False, path_type=Path), callback=writable,
              help="Write the run as a Chrome trace (open it in ui.perfetto.dev).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), callback=writable,
              help="Save a Gantt chart of the run as PNG (needs the plot extra).")
def run(jobs: int, duration: float, kind: str, tasks: tuple[str, ...], queue: str, fail_rate: float,
        flaky_rate: float, timeout: float | None, as_json: bool, progress: bool, live: bool, timeline: bool,
        trace: Path | None, plot: Path | None) -> int:
    """Submit the jobs, wait for them, and report who ran what when (the default command)."""
    if not queue.strip():
        raise click.BadParameter("must not be empty", param_hint="'--queue'")
    timeout = timeout if timeout is not None else default_timeout(jobs, duration)
    if plot:
        pyplot()  # fails now, with the install hint, if matplotlib is missing
    err = Console(stderr=True)
    slots = sum(w.slots for w in ready_workers(app, queue, config.BROKER_TIMEOUT, config.WORKER_WAIT))

    live = live and not as_json and err.is_terminal and sys.stdout.isatty()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err, transient=True, disable=live or not (progress and err.is_terminal))
    with bar, live_run(app, err, queue, jobs, slots, duration, enabled=live):
        track = bar.add_task(f"{jobs} jobs on {slots} slots", total=jobs)

        def advance(_: Outcome) -> None:
            bar.advance(track)

        jobs_planned = plan(jobs, duration, kind, queue, tasks or TASKS, fail_rate, flaky_rate)
        batch = run_batch(app, jobs_planned, timeout, on_result=advance)

    records = [o.record for o in batch.outcomes if o.record is not None]
    summary = summarize(records, jobs=jobs, duration_s=duration, wall_s=batch.wall_s, slots_online=slots)
    if as_json:
        click.echo(json_document(batch, summary))
    else:
        print_text(stdout_console(), batch, summary, timeline=timeline)
    results = [o.as_json() for o in batch.outcomes]
    if trace:
        write_trace(trace, results, summary)
        err.print(f"trace written to {trace} (open it in https://ui.perfetto.dev)", markup=False, highlight=False)
    if plot:
        gantt(plot, results, summary)
        err.print(f"plot written to {plot}", markup=False, highlight=False)
    for outcome in batch.failed:
        err.print(f"error: {outcome.job.task} ({outcome.task_id}): {outcome.error}", markup=False, highlight=False)
    return RET_JOBS_FAILED if batch.failed else RET_OK


def stdout_console() -> Console:
    """The report's console: the terminal's width, or 120 columns when piped (rich would say 80)."""
    return Console() if sys.stdout.isatty() else Console(width=120)


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i < 2 or name == "verdict" else "right")
    return table


@cli.command()
@click.option("--jobs", "-n", type=click.IntRange(1, 1000), default=4, show_default=True, help="Jobs per row.")
@click.option("--duration", "-d", type=click.FloatRange(0, 60), default=1.0, show_default=True, callback=finite,
              help="Seconds each job takes.")
@click.option("--kind", "kinds", type=click.Choice(KINDS), multiple=True,
              help="Only this kind of job (repeatable) [default: sleep and cpu].")
@click.option("--queue", "-q", default=config.QUEUE, show_default=True,
              help="The processes' queue; threads and gevent use QUEUE-threads and QUEUE-gevent.")
def compare(jobs: int, duration: float, kinds: tuple[str, ...], queue: str) -> int:
    """The same jobs, sleep and cpu, on each worker flavour online: concurrency vs parallelism.

    Start the flavours first: docker compose --profile flavours up -d --wait
    """
    check_brokers(app, config.BROKER_TIMEOUT)
    online = online_workers(app)
    if not any(consuming(online, f.queue) for f in flavours(queue)):
        raise NoWorkers(f"no worker consumes '{queue}' or its -threads/-gevent queues: docker compose up -d --wait")
    err = Console(stderr=True)
    err.print(f"running {jobs} x {duration:g} s jobs one after another here, then on each flavour...", style="dim")
    rows, skipped = compare_flavours(app, online, jobs, duration, kinds or KINDS, queue,
                                     default_timeout(jobs, duration))
    table = _table(f"{jobs} jobs of {duration:g} s each", ["kind", "how", "slots", "wall", "speedup", "verdict"])
    for row in rows:
        table.add_row(row.kind, row.pool, str(row.slots), f"{row.wall_s:.2f} s", f"{row.speedup:.2f}x",
                      row.verdict + (f" ({row.failed} failed)" if row.failed else ""))
    stdout_console().print(table)
    for flavour in skipped:
        err.print(f"skipped {flavour}: docker compose --profile flavours up -d --wait", markup=False)
    return RET_JOBS_FAILED if any(r.failed for r in rows) else RET_OK


@cli.command()
@click.option("--jobs", "-n", type=click.IntRange(1, 10_000), default=None,
              help="Jobs per step [default: 2 per worker slot online].")
@click.option("--duration", "-d", type=click.FloatRange(0, 60), default=0.5, show_default=True, callback=finite,
              help="Seconds each job takes.")
@click.option("--kind", type=click.Choice(KINDS), default="sleep", show_default=True)
@click.option("--queue", "-q", default=config.QUEUE, show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), callback=writable,
              help="Save speedup against workers as PNG, with the ideal diagonal.")
def sweep(jobs: int | None, duration: float, kind: str, queue: str, plot: Path | None) -> int:
    """Speedup against the number of workers, 1..N, without restarting anything.

    Celery's remote control lets only k workers consume the queue for each step; all of
    them consume it again afterwards, even on Ctrl-C.
    """
    if plot:
        pyplot()
    workers = ready_workers(app, queue, config.BROKER_TIMEOUT)
    jobs = jobs or 2 * sum(w.slots for w in workers)
    err = Console(stderr=True)
    err.print(f"{len(workers)} workers on '{queue}': {jobs} x {duration:g} s {kind} jobs per step", style="dim")
    names = [w.name for w in workers]
    try:
        points = sweep_workers(app, workers, queue, jobs, duration, kind, default_timeout(jobs, duration))
    finally:
        missing = restore(app, queue, names)
        if missing:
            err.print(f"warning: {', '.join(sorted(missing))} still not consuming '{queue}': "
                      f"celery -A worker control add_consumer {queue}", markup=False)
    table = _table(f"{jobs} x {duration:g} s {kind} jobs", ["workers", "slots", "wall", "ideal wall", "speedup",
                                                                  "ideal speedup", "efficiency"])
    for p in points:
        table.add_row(str(p.workers), str(p.slots), f"{p.wall_s:.2f} s", f"{p.ideal_wall_s:.2f} s",
                      f"{p.speedup:.2f}x", f"{p.ideal_speedup:.2f}x", f"{p.efficiency:.2f}")
    stdout_console().print(table)
    if not missing:
        err.print(f"all {len(names)} workers consume '{queue}' again", style="dim")
    if plot:
        speedup_curve(plot, [vars(p) for p in points])
        err.print(f"plot written to {plot}", markup=False, highlight=False)
    return RET_JOBS_FAILED if any(p.failed for p in points) else RET_OK


cli.add_command(watch)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every error into one line and an exit code."""
    debug = os.environ.get("PRODUCER_DEBUG") == "1"
    try:
        code: Any = cli.main(args=argv, prog_name="producer", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("producer: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"producer: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code if exc.exit_code else RET_USAGE)
    except ProducerError as exc:
        if debug:
            raise
        click.echo(f"producer: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001  (the one place that reports what nobody expected)
        if debug:
            raise
        click.echo(f"producer: unexpected error: {type(exc).__name__}: {exc} (PRODUCER_DEBUG=1 shows the traceback)",
                   err=True)
        sys.exit(RET_JOBS_FAILED)
    sys.exit(code if isinstance(code, int) else RET_OK)
