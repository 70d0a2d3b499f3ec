"""The producer's command line: `producer [run] --jobs 8 --duration 1 --json`, and friends.

`run`, `compare` and `sweep` are a thin shell over producer.api (the orchestration) and the
views. `status` and `purge` are not: they ask the cluster themselves (cluster.workers,
cluster.queues and Celery's inspect: is Redis there, who is online and what each runs, how
deep each queue is; emptying them), and `status` says where Flower is and its login, read
from the local cluster's state file, or from compose's settings and the owner's password
file (`flower_login`). `local`, `watch` and `quiz` live in their own modules.

Errors are handled once, in `main`: one line on stderr and a named exit code, never a
traceback (PRODUCER_DEBUG=1 shows one).
"""

from __future__ import annotations

import difflib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from cluster.errors import RET_INTERRUPTED, RET_JOBS_FAILED, RET_OK, RET_USAGE, ProducerError, UsageError
from cluster.queues import depths, set_aside
from cluster.queues import purge as purge_queues
from cluster.workers import check_brokers, masked, online_workers
from producer import __version__, api
from producer.api import default_timeout
from producer.commands.local import local
from producer.commands.options import PROGRESS_OPTION, Number, WholeNumber, err_console, picture, writable
from producer.commands.quiz import quiz
from producer.commands.watch import watch
from producer.compose_env import compose_setting, typo_warning
from producer.experiments.compare import flavours, slots_note
from producer.jobs import TASKS, plan
from producer.views.live import followed_run
from producer.views.plot import check_format, gantt, speedup_curve
from producer.views.progress import parts_progress, run_progress
from producer.views.report import json_document, print_text, trouble_lines
from producer.views.trace import write_trace
from producer.where import Where
from settings import SettingError, current
from worker import app
from worker.records import KINDS, MAX_DURATION_S
from worker.transport import dead_letter_key

MAX_JOBS = 100_000  # a bound, so a typo cannot flood Redis

EPILOG = """\b
Settings (environment; the defaults find `docker compose up`):
  REDIS_HOST, REDIS_PORT  where Redis is [localhost, 6379]
  REDIS_USER      who logs in [producer]
  REDIS_PASSWORD  its password [SECRETS_DIR/redis-producer]
  SECRETS_DIR     the passwords `docker compose up` made [./secrets.local]
  REDIS_PASSWORD_FILE  the password in a file
  REDIS_TLS_CA_FILE    TLS (rediss://), checked with this CA
  BROKER_URL, RESULT_BACKEND  full URLs instead of the ones above
  QUEUE           queue to submit to [jobs]
  BROKER_TIMEOUT  seconds Redis may take to answer [3]
  WORKER_WAIT     seconds to wait for a first worker [15]
  PRODUCER_DEBUG=1  show a traceback with an error
\b
Exit codes: 0 done; 1 a job failed or did not finish; 2 bad usage or
  setting; 3 Redis unreachable or refused us; 4 no worker on the queue;
  5 the local cluster could not start or is not up; 130 interrupted
  (the run's queued jobs withdrawn first)."""


class DefaultGroup(click.Group):
    """A group whose bare options go to `run`, so `producer --jobs 8` just works, and whose
    unknown commands are named with the closest one and the list."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0].startswith("-") and args[0] not in ("--help", "-h", "--version")):
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0]
        if name not in self.commands:
            close = difflib.get_close_matches(name, list(self.commands), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise click.UsageError(f"no command '{name}': {hint}commands: {', '.join(sorted(self.commands))}")
        return super().resolve_command(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog="Without a command, `run` runs (see `producer run --help`).\n\n" + EPILOG)
@click.version_option(__version__, prog_name="producer")
def cli() -> None:
    """Submit task1/task2 jobs to the Celery cluster and show whether they ran in parallel."""
    current()  # every setting checked before any work: a bad one is one line and exit 2 (`main`)


def not_blank(_: click.Context, param: click.Parameter, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("must not be empty", param=param)
    return value


def stdout_console() -> Console:
    """The report's console: the terminal's width; when piped, COLUMNS or 120, never padded."""
    if sys.stdout.isatty():
        return Console(highlight=False)
    columns = os.environ.get("COLUMNS", "")  # the terminal's convention (as rich's), not one of our settings
    return Console(width=int(columns) if columns.isdigit() and int(columns) > 20 else 120, highlight=False)


def say(console: Console, text: str, style: str = "dim") -> None:
    if console.stderr:  # what stdout holds comes first: with both in one file, no error lands inside the report
        sys.stdout.flush()
    console.print(text, markup=False, style=style)


def warn_of_typos(console: Console) -> None:
    """Name the clone's .env lines that are probably typos of a setting (`WORKRES=8`): compose ignores them."""
    if warning := typo_warning():
        say(console, warning, style="yellow")


def wait_note(console: Console, queue: str) -> Any:
    def note() -> None:
        say(console, f"waiting up to {current().worker_wait:g} s for a worker on queue '{queue}' "
                     f"(Redis at {masked(app.conf.broker_url)})...")
    return note


QUEUE_OPTION = click.option("--queue", "-q", default=lambda: current().queue, show_default="$QUEUE or jobs",
                            callback=not_blank,
                            help="Queue to submit to (the workers' -Q).")


@cli.command(short_help="Submit jobs and report who ran what when (the default).")
@click.option("--jobs", "-n", type=WholeNumber(1, MAX_JOBS), default=2, show_default=True,
              help="How many jobs to submit, alternating task1 and task2.")
@click.option("--duration", "-d", type=Number(0, MAX_DURATION_S), default=1.0, show_default=True,
              help="Seconds each job takes.")
@click.option("--kind", type=click.Choice(KINDS), default="sleep", show_default=True,
              help="sleep: wait (needs no CPU); cpu: burn pure-Python CPU for that long.")
@click.option("--task", "tasks", type=click.Choice(TASKS), multiple=True,
              help="Submit only this task (repeatable) [default: task1 and task2 in turn].")
@QUEUE_OPTION
@click.option("--fail-rate", type=Number(0, 1), default=0.0,
              help="Share of jobs that fail for good (to see a FAILURE reported).")
@click.option("--flaky-rate", type=Number(0, 1), default=0.0,
              help="Share of other jobs that fail once and are retried with backoff.")
@click.option("--timeout", type=Number(0, min_open=True), default=None,
              help="Seconds to wait for all results; jobs not started by then are withdrawn "
                   "[default: 2 x jobs x duration + RECOVERY_SILENCE + 30].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the report.")
@PROGRESS_OPTION
@click.option("--live/--no-live", default=True,
              help="On a terminal, draw the run live from the cluster's events (lanes, queue) while waiting.")
@click.option("--timeline/--no-timeline", default=True, help="Draw the run per worker slot in the terminal.")
@click.option("--trace", type=click.Path(dir_okay=False, path_type=Path), callback=writable,
              help="Write the run as a Chrome trace (open it in ui.perfetto.dev); the cluster's events are "
                   "followed for it (queue waits, lost attempts).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), callback=picture(check_format),
              help="Save a Gantt chart of the run (.png, .svg, .pdf; needs the plot extra); events followed "
                   "as for --trace.")
def run(jobs: int, duration: float, kind: str, tasks: tuple[str, ...], queue: str, fail_rate: float,
        flaky_rate: float, timeout: float | None, as_json: bool, progress: bool, live: bool, timeline: bool,
        trace: Path | None, plot: Path | None) -> int:
    """Submit the jobs, wait for them, and report who ran what when.

    Jobs already waiting in the queue are named first; on Ctrl-C or --timeout the run's jobs
    that have not started are withdrawn, so nothing is left behind for the next run.

    (One parameter per option, as click passes them: the signature is the command line's, and
    it stays whole. What the jobs are goes to `plan`, how they run to `api.run_on`, how they
    are shown to the views; this function only wires them.)
    """
    timeout = timeout if timeout is not None else default_timeout(jobs, duration)
    err = err_console()
    warn_of_typos(err)
    found = api.ready(app, queue, on_wait=wait_note(err, queue))
    slots = found.slots
    if found.queued_ahead:
        say(err, f"{found.queued_ahead} jobs from an earlier run are queued ahead of yours: python -m producer purge",
            style="yellow")

    live = live and not as_json and err.is_terminal and sys.stdout.isatty()
    # the events the live view follows also feed the pictures; --trace and --plot follow them anyway
    with run_progress(err, jobs, f"{jobs} jobs on {slots} slots", show=progress and not live) as shown, \
            followed_run(app, err, queue, jobs, slots, duration, live=live, events=bool(trace or plot),
                         workers=len(found.workers)) as events:
        # what the events saw of each job (its reception, attempts lost with their worker) joins the story
        batch = api.run_on(app, found, plan(jobs, duration, kind, queue, tasks or TASKS, fail_rate, flaky_rate),
                           timeout, on_result=shown.on_result, on_submitted=shown.on_submitted, events=events)

    story, summary = batch.story, batch.summary
    if as_json:
        click.echo(json_document(story, summary))
    else:
        print_text(stdout_console(), story, summary, timeline=timeline)
    if trace:
        write_trace(trace, story, summary)
        say(err, f"trace written to {Where.here().written(trace)} (open it in https://ui.perfetto.dev)", style="")
    if plot:
        gantt(plot, story, summary)
        say(err, f"plot written to {Where.here().written(plot)}", style="")
    for line in trouble_lines(batch.outcomes, timeout, named_above=not as_json):  # each job said once
        say(err, line, style="")
    return RET_JOBS_FAILED if batch.failed else RET_OK


def _table_lines(header: list[str], rows: list[list[str]]) -> list[str]:
    """A plain table: columns padded to their widest cell, no padding at the end of a line."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    return ["  ".join(f"{c:<{w}}" if i < 2 or i == len(widths) - 1 else f"{c:>{w}}"
                      for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()
            for cells in [header, *rows]]


def _speedup(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


@cli.command(short_help="The same jobs on processes, threads and gevent: parallel or not.")
@click.option("--jobs", "-n", type=WholeNumber(1, 1000), default=4, show_default=True, help="Jobs per row.")
@click.option("--duration", "-d", type=Number(0, 60), default=1.0, show_default=True,
              help="Seconds each job takes.")
@click.option("--kind", "kinds", type=click.Choice(KINDS), multiple=True,
              help="Only this kind of job (repeatable) [default: sleep and cpu].")
@click.option("--queue", "-q", default=lambda: current().queue, show_default="$QUEUE or jobs", callback=not_blank,
              help="The processes' queue; threads and gevent use QUEUE-threads and QUEUE-gevent.")
@PROGRESS_OPTION
def compare(jobs: int, duration: float, kinds: tuple[str, ...], queue: str, progress: bool) -> int:
    """The same jobs, sleep and cpu, on each worker flavour online: concurrency vs parallelism.

    Start the flavours first: FLAVOURS=1 docker compose up -d --wait
    """
    online = api.flavours_online(app, queue)
    err = err_console()
    say(err, f"running {jobs} x {duration:g} s jobs one after another here, then on each flavour...")
    with parts_progress(err, "compare", show=progress) as shown:
        rows, skipped = api.compare_on(app, online, jobs, duration, kinds or KINDS, queue, shown=shown)
    out = stdout_console()
    say(out, f"{jobs} jobs of {duration:g} s each (speedup = work / wall)", style="bold")
    for line in _table_lines(["kind", "how", "slots", "wall", "speedup", "efficiency", "verdict"],
                             [[r.kind, r.pool, str(r.slots), f"{r.wall_s:.2f} s", _speedup(r.speedup),
                               "" if r.efficiency is None else f"{r.efficiency:.2f}",
                               r.verdict + (f" ({r.failed} failed)" if r.failed else "")] for r in rows]):
        say(out, line, style="")
    if note := slots_note(rows):
        say(out, note, style="yellow")
    for flavour in skipped:
        say(err, f"skipped {flavour}: FLAVOURS=1 docker compose up -d --wait")
    return RET_JOBS_FAILED if any(r.failed for r in rows) else RET_OK


@cli.command(short_help="Speedup against the number of workers, 1..N.")
@click.option("--jobs", "-n", type=WholeNumber(1, 10_000), default=None,
              help="Jobs per step [default: 2 per worker slot online].")
@click.option("--duration", "-d", type=Number(0, 60), default=0.5, show_default=True,
              help="Seconds each job takes.")
@click.option("--kind", type=click.Choice(KINDS), default="sleep", show_default=True,
              help="sleep: wait (needs no CPU); cpu: burn pure-Python CPU for that long.")
@QUEUE_OPTION
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), callback=picture(check_format),
              help="Save speedup against workers (.png, .svg, .pdf), with the ideal diagonal.")
@PROGRESS_OPTION
def sweep(jobs: int | None, duration: float, kind: str, queue: str, plot: Path | None, progress: bool) -> int:
    """Speedup against the number of workers, 1..N, without restarting anything.

    Celery's remote control lets only k workers consume the queue for each step; all of
    them consume it again afterwards, even on Ctrl-C.
    """
    err = err_console()
    workers = api.workers_on(app, queue, on_wait=wait_note(err, queue))
    jobs = jobs or api.sweep_jobs(workers)
    say(err, f"{len(workers)} workers on '{queue}': {jobs} x {duration:g} s {kind} jobs per step")
    missing: set[str] = set()

    def restored(still_wrong: set[str]) -> None:
        missing.update(still_wrong)
        if still_wrong:
            say(err, f"warning: {', '.join(sorted(still_wrong))} still not consuming '{queue}': "
                     f"celery -A worker control add_consumer {queue}", style="yellow")

    with parts_progress(err, "sweep", show=progress) as shown:
        points = api.sweep_on(app, workers, queue, jobs, duration, kind, on_restored=restored, shown=shown)
    out = stdout_console()
    say(out, f"{jobs} x {duration:g} s {kind} jobs (speedup = work / wall)", style="bold")
    for line in _table_lines(["workers", "slots", "wall", "ideal wall", "speedup", "ideal speedup", "efficiency"],
                             [[str(p.workers), str(p.slots), f"{p.wall_s:.2f} s", f"{p.ideal_wall_s:.2f} s",
                               _speedup(p.speedup), _speedup(p.ideal_speedup), f"{p.efficiency:.2f}"]
                              for p in points]):
        say(out, line, style="")
    if not missing:
        say(err, f"all {len(workers)} workers consume '{queue}' again")
    if plot:
        speedup_curve(plot, [vars(p) for p in points])
        say(err, f"plot written to {Where.here().written(plot)}", style="")
    return RET_JOBS_FAILED if any(p.failed for p in points) else RET_OK


def project_queues(queue: str | None = None) -> list[str]:
    """The queues this project uses: the jobs queue (QUEUE's by default) and its flavours' (see compare)."""
    return [f.queue for f in flavours(queue or current().queue)]


@cli.command(short_help="Redis, the workers and the queues, on one screen.")
def status() -> int:
    """Is Redis there, which workers are online (pool, slots, queues, what each runs now), how deep each queue is."""
    warn_of_typos(err_console())
    check_brokers(app, current().broker_timeout)
    out = stdout_console()
    say(out, f"Redis: {masked(app.conf.broker_url)} answers", style="")
    workers = online_workers(app)
    active = app.control.inspect(timeout=1).active() or {} if workers else {}
    rows = []
    for w in workers:
        running = ", ".join(f"{t['name']} {t['id'][:8]}" for t in active.get(w.name, [])) or "idle"
        rows.append([w.name, w.pool, str(w.slots), ",".join(w.queues), running])
    if rows:
        for line in _table_lines(["worker", "pool", "slots", "queues", "running now"], rows):
            say(out, line, style="")
    else:
        say(out, "no worker answers: docker compose up -d --wait", style="yellow")
    queues = sorted(set(project_queues()) | {q for w in workers for q in w.queues})
    junk = set_aside(app, queues)
    for queue, waiting in depths(app, queues).items():
        aside = f", {junk[queue]} set aside as not a job ({dead_letter_key(queue)})" if junk.get(queue) else ""
        say(out, f"queue {queue}: {waiting} waiting{aside}", style="yellow" if aside else "")
    if flower := flower_login(app.conf.broker_url):
        say(out, flower, style="")
    return RET_OK


def flower_login(broker_url: str) -> str | None:
    """Where the Flower of the cluster this producer talks to is, and its login: the local cluster's,
    if that is the one (its own port and password), else compose's (FLOWER_PORT and FLOWER_USER as
    compose reads them, the owner's password file); None when neither has one."""
    from devcluster.local_cluster import LocalCluster  # only `status` needs it

    local = LocalCluster.load()
    if local is not None and f":{local.port}/" in broker_url:
        if local.flower_url is None:
            return None
        return f"Flower: {local.flower_url} login admin / {local.flower_password} ({local.secrets_dir / 'flower'})"
    if flower_password := current().owner_secret("flower"):  # the owner's, on the host: compose's Flower
        port, user = compose_setting("FLOWER_PORT", "5555"), compose_setting("FLOWER_USER", "admin")
        return f"Flower: http://127.0.0.1:{port} login {user} / {flower_password} ({current().secrets_dir / 'flower'})"
    return None


@cli.command(short_help="Empty the project's queues (jobs nobody will wait for).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask first.")
@click.option("--queue", "-q", "queues", multiple=True, callback=lambda _c, _p, v: v,
              help="Only this queue (repeatable) [default: QUEUE and its -threads/-gevent queues].")
def purge(yes: bool, queues: tuple[str, ...]) -> int:
    """Remove every job waiting in the queues; running jobs finish. Says how many it removed."""
    check_brokers(app, current().broker_timeout)
    names = list(queues) or project_queues()
    waiting = depths(app, names)
    total = sum(waiting.values())
    if total == 0:
        say(stdout_console(), f"nothing to purge: {', '.join(names)} empty", style="")
        return RET_OK
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"{total} jobs are waiting; not on a terminal to ask: purge --yes")
        click.confirm(f"remove {total} waiting jobs from {', '.join(q for q, n in waiting.items() if n)}?",
                      abort=True)
    removed = purge_queues(app, names)
    say(stdout_console(), f"removed {sum(removed.values())} jobs ("
        + ", ".join(f"{q}: {n}" for q, n in removed.items()) + ")", style="")
    return RET_OK


def _sigterm(*_: Any) -> None:
    raise KeyboardInterrupt  # stopped from outside (docker stop, kill): withdraw as on Ctrl-C


cli.add_command(local)
cli.add_command(watch)
cli.add_command(quiz)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and turn every error into one line and an exit code."""
    debug = os.environ.get("PRODUCER_DEBUG") == "1"  # read apart from the settings: it shows why they failed
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        try:
            code: Any = cli.main(args=argv, prog_name="producer", standalone_mode=False)
        finally:
            sys.stdout.flush()  # the report before the error line, when both go to one file
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("producer: interrupted", err=True)
        sys.exit(RET_INTERRUPTED)
    except click.ClickException as exc:
        click.echo(f"producer: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code if exc.exit_code else RET_USAGE)
    except SettingError as exc:  # a bad environment variable, refused before any work
        click.echo(f"producer: error: {exc}", err=True)
        sys.exit(RET_USAGE)
    except ProducerError as exc:
        if debug:
            raise
        click.echo(f"producer: {'' if exc.exit_code == RET_INTERRUPTED else 'error: '}{exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001  (the one place that reports what nobody expected)
        if debug:
            raise
        click.echo(f"producer: unexpected error: {type(exc).__name__}: {exc} (PRODUCER_DEBUG=1 shows the traceback)",
                   err=True)
        sys.exit(RET_JOBS_FAILED)
    sys.exit(code if isinstance(code, int) else RET_OK)
