"""Bare Celery, the benchmark's baseline: Celery's defaults, the broker and backend URLs, nothing else.

`celery -A benchmarks.bare_app worker` runs it beside the project's workers, on the same
redis-server (another pair of databases), so every figure gets a ratio to what Celery does
out of the box. task1 and task2 take the project's arguments and only sleep; they return
nothing, as a task written without this project's records would.
"""

from __future__ import annotations

import os
import time

from celery import Celery

app = Celery("bare", broker=os.environ.get("BROKER_URL"), backend=os.environ.get("RESULT_BACKEND"))


@app.task(name="task1")
def task1(duration: float = 0.0, kind: str = "sleep") -> None:
    time.sleep(duration)


@app.task(name="task2")
def task2(duration: float = 0.0, kind: str = "sleep") -> None:
    time.sleep(duration)
