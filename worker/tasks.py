"""task1 and task2 from the course page, each reporting who ran it and when.

On the course page each function sleeps one second and prints "task1 finished at <time>".
Here each returns a result record instead, so the producer can print that line and prove,
from the timestamps, whether the jobs ran at the same time.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from celery import Task
from celery.signals import worker_process_init

from worker import app
from worker.burn import burn_cpu, rounds_per_second
from worker.records import check_duration, check_kind, make_record, utc_now

DEFAULT_DURATION_S = 1.0


def run_job(task: Task, duration: Any, kind: Any) -> dict[str, Any]:
    """Spend `duration` seconds the way `kind` says, and return the result record."""
    seconds = check_duration(duration)
    kind = check_kind(kind)
    request = task.request
    started_at, t0 = utc_now(), time.perf_counter()
    if kind == "cpu":
        burn_cpu(seconds)
    else:
        time.sleep(seconds)
    runtime_s = time.perf_counter() - t0
    finished_at = utc_now()
    delivery_info = request.delivery_info or {}
    return make_record(
        task=task.name,
        task_id=request.id,
        kind=kind,
        worker=request.hostname or socket.gethostname(),
        hostname=socket.gethostname(),
        pid=os.getpid(),
        started_at=started_at,
        finished_at=finished_at,
        runtime_s=runtime_s,
        attempt=request.retries + 1,
        redelivered=bool(delivery_info.get("redelivered")),
    )


@app.task(name="task1", bind=True)
def task1(self: Task, duration: float = DEFAULT_DURATION_S, kind: str = "sleep") -> dict[str, Any]:
    """The course page's task1: takes `duration` seconds, then says who ran it and when."""
    return run_job(self, duration, kind)


@app.task(name="task2", bind=True)
def task2(self: Task, duration: float = DEFAULT_DURATION_S, kind: str = "sleep") -> dict[str, Any]:
    """The course page's task2: the same work as task1, so the two can run side by side."""
    return run_job(self, duration, kind)


@worker_process_init.connect
def _calibrate_cpu_burn(**_: Any) -> None:
    """Calibrate the cpu loop when a pool process starts, not inside the first cpu job."""
    rounds_per_second()
