"""The library: what a notebook (or any script) calls; the command line is a shell over the same modules.

    from producer import run_jobs
    batch = run_jobs(jobs=8, duration=1)
    batch.summary.speedup, batch.records, batch.timeline(), batch.gantt(), batch.to_dataframe()

In a notebook, `run_jobs`, `sweep` and `quiz` draw their jobs live in the cell's output while they
run, as `python -m producer run` does on a terminal, and `watch()` follows the whole cluster;
anywhere else (a script, a plain `python`, the tests) they draw nothing (producer.views.notebook).

The cluster is found the way the command line finds it (settings.model: BROKER_URL, REDIS_*,
or the local cluster `python -m producer local up` recorded). Errors are raised as the
producer's exceptions (cluster.errors), each with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

from celery import Celery

from cluster.errors import NoWorkers, UsageError
from cluster.events import ClusterEvents
from cluster.queues import depth
from cluster.workers import Worker, check_brokers, consuming, online_workers, ready_workers
from producer.experiments import compare as _compare
from producer.experiments import course_quiz as _quiz
from producer.experiments import sweep as _sweep
from producer.jobs import TASKS, Job, Outcome, plan
from producer.results import BatchResult
from producer.submit import riding_out_a_restart, run_batch
from producer.views import notebook
from producer.views.progress import Shown
from settings import current

__all__ = ["BatchResult", "SweepResult", "compare", "default_timeout", "quiz", "run_jobs", "sweep", "watch"]


def _app(app: Celery | None) -> Celery:
    if app is not None:
        return app
    from worker import app as cluster_app

    return cluster_app


def default_timeout(jobs: int, duration_s: float) -> float:
    """Twice the sequential time, plus RECOVERY_SILENCE and 30 s.

    Generous even when only one worker is up, and long enough for a job whose worker died
    to be handed on by the recovery service (within RECOVERY_SILENCE and a poll). Without
    that service such a job waits for the visibility timeout (an hour): pass --timeout.
    """
    return 2.0 * jobs * duration_s + current().recovery_silence + 30.0


@dataclass(frozen=True)
class Ready:
    """What a run finds before it submits: the workers on its queue, their slots, and jobs already queued ahead."""

    queue: str
    workers: list[Worker]
    slots: int
    queued_ahead: int


def workers_on(app: Celery, queue: str, on_wait: Callable[[], None] | None = None) -> list[Worker]:
    """The workers consuming `queue`, waiting up to WORKER_WAIT for a first one (`on_wait` is called once if
    it takes a while); NoWorkers when none comes."""
    return ready_workers(app, queue, current().broker_timeout, current().worker_wait, on_wait=on_wait)


def ready(app: Celery, queue: str, on_wait: Callable[[], None] | None = None) -> Ready:
    """The workers on `queue` (`workers_on`), then the queue's depth: the first half of a run (`run_jobs`;
    the command line shows what it found before it submits)."""
    workers = workers_on(app, queue, on_wait)
    return Ready(queue, workers, sum(w.slots for w in workers), riding_out_a_restart(app, partial(depth, app, queue)))


def run_on(app: Celery, found: Ready, jobs: list[Job], timeout_s: float,
           on_result: Callable[[Outcome], None] | None = None, events: ClusterEvents | None = None,
           on_submitted: Callable[[int], None] | None = None) -> BatchResult:
    """Submit `jobs`, wait up to `timeout_s` for all, and return the finished batch: the second half of a run.

    `on_submitted` is told how many jobs are in Redis as they go out, `on_result` each result as it
    arrives; `events`, when followed, add what they saw of each job (its reception, attempts lost with
    their worker) to the batch's story.
    """
    collected = run_batch(app, jobs, timeout_s, on_result=on_result, on_submitted=on_submitted)
    return BatchResult.of(collected, slots_online=found.slots, queued_ahead=found.queued_ahead,
                          seen=events.snapshot() if events is not None else None)


def run_jobs(jobs: int = 2, duration: float = 1.0, kind: str = "sleep", queue: str | None = None,
             tasks: Sequence[str] = TASKS, fail_rate: float = 0.0, flaky_rate: float = 0.0,
             timeout: float | None = None, live: bool = True, app: Celery | None = None) -> BatchResult:
    """Submit `jobs` jobs (task1, task2, ... in turn) of `duration` seconds, wait for all, and return the batch.

    Like `python -m producer run`: waits up to WORKER_WAIT for a worker on the queue, then
    submits; a job that fails or does not finish in time is in `.failed`, not raised. In a
    notebook the run is drawn live in the cell's output, its last frame kept (`live=False`: not),
    and what the cluster's events saw of each job joins the batch's story, as with the live view.
    """
    app = _app(app)
    queue = queue or current().queue
    found = ready(app, queue)
    followed = (notebook.followed_run(app, queue, jobs, found.slots, duration, workers=len(found.workers))
                if live else nullcontext())
    with followed as events:
        return run_on(app, found, plan(jobs, duration, kind, queue, tuple(tasks), fail_rate, flaky_rate),
                      timeout if timeout is not None else default_timeout(jobs, duration), events=events)


def compare(jobs: int = 4, duration: float = 1.0, kinds: Sequence[str] = ("sleep", "cpu"),
            queue: str | None = None, app: Celery | None = None) -> list[_compare.Row]:
    """The same jobs on processes, threads and gevent (the flavours online): one row per kind and flavour.

    Each row has `.speedup`, `.peak`, `.verdict` and the full `.summary`; the first row of each
    kind is the course page's loop, run here, one after another.
    """
    app = _app(app)
    queue = queue or current().queue
    rows, _skipped = compare_on(app, flavours_online(app, queue), jobs, duration, kinds, queue)
    return rows


def flavours_online(app: Celery, queue: str) -> list[Worker]:
    """Every worker online, once Redis answers; NoWorkers unless one consumes `queue` or its -threads/-gevent queues."""
    check_brokers(app, current().broker_timeout)
    online = online_workers(app)
    if not any(consuming(online, f.queue) for f in _compare.flavours(queue)):
        raise NoWorkers(f"no worker consumes '{queue}' or its -threads/-gevent queues: docker compose up -d --wait")
    return online


def compare_on(app: Celery, online: list[Worker], jobs: int, duration: float, kinds: Sequence[str],
               queue: str, shown: Shown | None = None) -> tuple[list[_compare.Row], list[str]]:
    """`compare` on the workers `online` (`flavours_online`): the rows, and the flavours skipped (no worker);
    each row's batch told to `shown` as a part (the command's progress)."""
    return _compare.compare(app, online, jobs, duration, tuple(kinds), queue, default_timeout(jobs, duration),
                            shown=shown)


@dataclass
class SweepResult:
    """Speedup against the number of workers: one point per step."""

    points: list[_sweep.Point]

    def to_dataframe(self) -> Any:
        """One row per step (workers, slots, wall, speedup, ideal speedup, efficiency); needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install -e '.[notebook]'") from None
        return pd.DataFrame([vars(p) for p in self.points])

    def plot(self) -> Any:
        """Measured speedup against workers, with the ideal lines (a matplotlib Figure)."""
        from producer.views.plot import pyplot, speedup_figure

        fig = speedup_figure([vars(p) for p in self.points])
        pyplot().close(fig)
        return fig


def sweep(jobs: int | None = None, duration: float = 0.5, kind: str = "sleep", queue: str | None = None,
          live: bool = True, app: Celery | None = None) -> SweepResult:
    """The same batch on 1..N of the workers online (2 jobs per slot by default); all consume the queue again after.

    In a notebook each step is drawn live in the cell's output, a picture per step (`live=False`: not).
    """
    app = _app(app)
    queue = queue or current().queue
    workers = workers_on(app, queue)
    drawn = notebook.parts(app, "sweep", (queue,), sum(w.slots for w in workers), duration,
                           workers=len(workers)) if live else nullcontext(None)
    with drawn as shown:
        return SweepResult(sweep_on(app, workers, queue, jobs or sweep_jobs(workers), duration, kind, shown=shown))


def sweep_jobs(workers: list[Worker]) -> int:
    """Jobs per sweep step when none are asked for: 2 per worker slot online."""
    return 2 * sum(w.slots for w in workers)


def sweep_on(app: Celery, workers: list[Worker], queue: str, jobs: int, duration: float, kind: str,
             on_restored: Callable[[set[str]], None] | None = None, shown: Shown | None = None) -> list[_sweep.Point]:
    """`sweep` on `workers`: one point per step, each told to `shown` as a part (the command's progress).
    Afterwards, even on Ctrl-C, all of them consume `queue` again; `on_restored` is told the ones that still do not."""
    names = [w.name for w in workers]
    try:
        return _sweep.sweep(app, workers, queue, jobs, duration, kind, default_timeout(jobs, duration), shown=shown)
    finally:
        missing = _sweep.restore(app, queue, names)
        if on_restored is not None:
            on_restored(missing)


def quiz_workers(app: Celery, workers: int | None = None) -> tuple[list[Any], list[Any]]:
    """(everyone online, the ones the quiz uses): the first `workers` consuming QUEUE, all of them by default."""
    ready = ready_workers(app, current().queue, current().broker_timeout, current().worker_wait)
    online = online_workers(app)
    if workers is not None and workers < 2:
        raise UsageError(f"--workers {workers}: the quiz needs at least 2 (one stall is no parallelism)")
    chosen = ready[:workers] if workers else ready
    if len(chosen) < 2 or (workers and len(ready) < workers):
        want = max(workers or 4, 2)
        fewer = f", or quiz --workers {len(ready)}" if len(ready) >= 2 else ""
        raise UsageError(f"the quiz needs {workers or 2} workers on '{current().queue}', {len(ready)} online: "
                         f"WORKERS={want} docker compose up -d --wait (or python -m producer local up --workers "
                         f"{want}){fewer}")
    return online, chosen


def quiz(workers: int | None = None, duration: float = 1.0, answers: Sequence[str] | None = None,
         amdahl: bool = True, live: bool = True, app: Celery | None = None) -> _quiz.QuizResult:
    """The course page's quiz on the cluster: cashier, shower stalls, one cup (and Amdahl's law).

    `answers` (three of parallel / not parallel, or p / not) are checked against the page's;
    `print(result.report())` shows it all, `result.answers` what was measured. In a notebook each
    scene and Amdahl step is drawn live in the cell's output, a picture each (`live=False`: not).
    """
    app = _app(app)
    given = [_quiz.parse_answer(a) for a in answers] if answers is not None else None
    if given is not None and len(given) != len(_quiz.SCENARIOS):
        raise UsageError(f"give {len(_quiz.SCENARIOS)} answers, one per question, not {len(given)}")
    online, chosen = quiz_workers(app, workers)
    ask = (lambda scenario: given[_quiz.SCENARIOS.index(scenario)]) if given else None
    slots = sum(w.slots for w in chosen)
    # no queue depths in its headline: each scene has queues of its own, and `waiting` counts its jobs
    drawn = notebook.parts(app, "quiz", (), slots, duration, workers=len(online)) if live else nullcontext(None)
    with drawn as shown:
        return _quiz.run_quiz(app, online, chosen, duration, default_timeout(2 * slots, duration), ask=ask,
                              amdahl_steps=amdahl, shown=shown)


def watch(seconds: float = 30.0, queues: Sequence[str] = (), stop_after: float | None = None,
          app: Celery | None = None) -> None:
    """The whole cluster live in a notebook's cell, anyone's jobs, over its last `seconds`: as `python -m
    producer watch` on a terminal, until you interrupt the kernel (■), or for `stop_after` seconds.

    The interrupt ends it quietly, its last frame kept in the output. Only in a notebook: anywhere
    else it says to use the command line (a loop that draws nothing would look like a hang).
    """
    if not notebook.front_end():
        raise UsageError("watch() draws in a notebook's output; on a terminal: python -m producer watch")
    if seconds <= 0 or (stop_after is not None and stop_after <= 0):
        raise UsageError(f"watch(seconds={seconds:g}, stop_after={stop_after}): both are seconds, above 0")
    app = _app(app)
    check_brokers(app, current().broker_timeout)  # a stopped Redis is one line now, not a picture that never fills
    notebook.watch(app, tuple(queues) or (current().queue,), seconds, stop_after)
