"""Bare Celery, the benchmark's baselines: Celery's defaults plus only the guarantees asked for.

`celery -A benchmarks.bare_app worker` runs it beside the project's workers, on the same
redis-server (another pair of databases), so every figure gets a ratio to what Celery does
out of the box (`bare`: no guarantee) and to Celery with the project's guarantees and
nothing else of the project (`guaranteed`: all of them). `BENCH_GUARANTEES` names the
guarantees turned on (comma-separated, from GUARANTEES); the price list's rows turn them on
one at a time. task1 and task2 take the project's arguments and only sleep; they return
nothing, as a task written without this project's records would.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from celery import Celery

#: Each guarantee the project keeps, in the order the price list adds them, and the Celery
#: settings it takes. The heartbeat stays Celery's default (every 2 s with events), as the project's.
GUARANTEES: dict[str, dict[str, Any]] = {
    "prefetch1": {"worker_prefetch_multiplier": 1},  # fairness: no worker hoards jobs
    "acks_late": {"task_acks_late": True, "task_reject_on_worker_lost": True},  # a dead worker's job is not lost
    "events": {"worker_send_task_events": True},  # -E: received, started, succeeded (Flower, the view, recovery)
    "sent_events": {"task_send_sent_event": True},  # the producer's task-sent: a queued job shows at once
}


def settings(guarantees: Iterable[str]) -> dict[str, Any]:
    """The Celery settings of these guarantees (ValueError for a name not in GUARANTEES)."""
    out: dict[str, Any] = {}
    for name in guarantees:
        if name not in GUARANTEES:
            raise ValueError(f"unknown guarantee {name!r}: one of {', '.join(GUARANTEES)}")
        out.update(GUARANTEES[name])
    return out


def parse(text: str | None) -> tuple[str, ...]:
    """`prefetch1,acks_late` -> ("prefetch1", "acks_late"); empty or None: none."""
    return tuple(name.strip() for name in (text or "").split(",") if name.strip())


def make_app(broker_url: str | None, result_backend: str | None, guarantees: Iterable[str] = ()) -> Celery:
    """Celery with its defaults, the two URLs, and the settings of `guarantees`."""
    app = Celery("bare", broker=broker_url, backend=result_backend)
    app.conf.update(settings(guarantees))
    return app


app = make_app(os.environ.get("BROKER_URL"), os.environ.get("RESULT_BACKEND"),
               parse(os.environ.get("BENCH_GUARANTEES")))


@app.task(name="task1")
def task1(duration: float = 0.0, kind: str = "sleep") -> None:
    time.sleep(duration)


@app.task(name="task2")
def task2(duration: float = 0.0, kind: str = "sleep") -> None:
    time.sleep(duration)
