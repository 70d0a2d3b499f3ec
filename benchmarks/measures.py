"""One function per figure of the benchmark; each runs real jobs and returns plain numbers.

Worker counts are chosen without restarting anything: the cluster runs the most workers
any figure needs, and Celery's remote control lets only k of them consume the queue
(the same mechanism as `python -m producer sweep`).
"""

from __future__ import annotations

import math
import os
import statistics
import time
from typing import Any

from celery import Celery

from benchmarks.clusters import Cluster, Metered, ProjectCluster, command_calls, proc_cpu_ns
from benchmarks.view import TERMINAL, ViewProcess, view_figures
from cluster.workers import wait_for_workers
from producer.experiments.sweep import only
from producer.figures import summarize
from producer.jobs import plan
from producer.submit import run_batch

QUEUE = "jobs"


def batch(app: Celery, names: list[str], k: int, jobs: int, duration_s: float, kind: str = "sleep") -> dict[str, Any]:
    """Run `jobs` jobs on the first `k` workers; wall, efficiency and where the time went."""
    with only(app, QUEUE, names, names[:k]):
        result = run_batch(app, plan(jobs, duration_s, kind, QUEUE), timeout_s=60 + 3 * jobs * duration_s)
    summary = summarize(result.outcomes, wall_s=result.wall_s, slots_online=k)
    efficiency = summary.efficiency
    if efficiency is None and kind == "sleep" and not result.failed and result.wall_s > 0:
        # bare Celery's tasks return no record: the same ideal wall as figures', from the plan
        efficiency = math.ceil(jobs / k) * duration_s / result.wall_s
    records = [o.record for o in result.outcomes if o.record]
    waits = [(r.started_at - o.submitted_at).total_seconds() for o in result.outcomes if (r := o.record)]
    return {
        "wall_s": result.wall_s,
        "submit_s": result.submit_s,
        "efficiency": efficiency,
        "failed": len(result.failed),
        "dispatch_s": waits,
        "queue_wait_mean_s": statistics.fmean(waits) if waits else None,
        "run_mean_s": statistics.fmean(r.runtime_s for r in records) if records else None,
    }


def round_trips(app: Celery, names: list[str], count: int) -> list[float]:
    """Seconds from submit to result for `count` no-op jobs sent one after another."""
    with only(app, QUEUE, names, names):
        for _ in range(5):  # warm the connections and the workers
            app.send_task("task1", kwargs={"duration": 0}, queue=QUEUE).get(timeout=30)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            app.send_task("task1", kwargs={"duration": 0}, queue=QUEUE).get(timeout=30)
            times.append(time.perf_counter() - start)
    return times


def throughput(app: Celery, names: list[str], k: int, jobs: int, cluster: Metered | None = None) -> dict[str, Any]:
    """No-op jobs per second end to end on `k` workers, the submit rate alone, and what each job cost.

    With `cluster`: Redis commands per job (INFO commandstats before and after) and CPU
    milliseconds per job of each component (the producer is this process). Both include
    what idle processes did meanwhile (heartbeats, polling): a few percent here.
    """
    if cluster is not None:
        calls0, cpu0, producer0 = command_calls(cluster.admin_url), cluster.cpu_ns(), proc_cpu_ns(os.getpid())
    result = batch(app, names, k, jobs, 0.0)
    out: dict[str, Any] = {"jobs_per_s": jobs / result["wall_s"], "submitted_per_s": jobs / result["submit_s"],
                           "failed": result["failed"]}
    if cluster is not None:
        producer1, cpu1, calls1 = proc_cpu_ns(os.getpid()), cluster.cpu_ns(), command_calls(cluster.admin_url)
        out["commands_per_job"] = {name: (n - calls0.get(name, 0)) / jobs for name, n in sorted(calls1.items())
                                   if n != calls0.get(name, 0)}
        out["cpu_ms_per_job"] = {"producer": (producer1 - producer0) / 1e6 / jobs,
                                 **{c: (cpu1[c] - cpu0[c]) / 1e6 / jobs for c in cpu1}}
    return out


#: The course page's smallest demo as a user runs it: two 0.1 s jobs, the producer started for them.
FIRST_RESULT_ARGS = ("--jobs", "2", "--duration", "0.1", "--no-live")


def first_result(cluster: ProjectCluster) -> dict[str, float]:
    """Seconds from Enter to the producer's exit: for the smallest demo (FIRST_RESULT_ARGS: its
    results printed), and for `--version` alone, the part that is only starting the producer
    (`compose run`'s container, Python, the imports)."""
    t0 = time.monotonic()
    cluster.producer("--version")
    started = time.monotonic()
    cluster.producer(*FIRST_RESULT_ARGS)
    return {"start_s": started - t0, "demo_s": time.monotonic() - started}


def cold_start(cluster: Cluster, app: Celery, workers: int) -> float:
    """Seconds from no worker at all to `workers` healthy workers that answer ping."""
    cluster.remove_workers()
    start = time.monotonic()
    cluster.scale(workers)
    wait_for_workers(app, workers, timeout_s=600)
    return time.monotonic() - start


def idle_cpu(cluster: Cluster, seconds: float) -> dict[str, float]:
    """Share of one core that idle workers (heartbeats, healthchecks) and the engine take."""
    workers0, engine0, t0 = cluster.worker_cpu_ns(), cluster.engine_cpu_ns(), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    return {
        "workers_core_share": (cluster.worker_cpu_ns() - workers0) / 1e9 / elapsed,
        "engine_core_share": (cluster.engine_cpu_ns() - engine0) / 1e9 / elapsed,
        "seconds": elapsed,
        "workers": cluster.workers,
    }


def view_under_load(app: Celery, names: list[str], k: int, jobs: int, cluster: Cluster,
                    renderer: str = TERMINAL) -> dict[str, Any]:
    """The live view (`watch`'s code, in a process of its own; `renderer`: on a terminal, or the notebook's)
    while `k` workers run `jobs` no-op jobs at full rate.

    The view starts once the `k` workers are chosen, so it sees the load alone; its CPU and
    the rates count from the first submit to the last result; lags count every event of the load.
    """
    timeout_s = 60 + 0.1 * jobs  # no-op jobs: 2,000 ran at 110-330 jobs/s here
    with only(app, QUEUE, names, names[:k]), \
            ViewProcess(cluster.broker_url, cluster.result_backend, max_seconds=timeout_s + 60,
                        renderer=renderer) as view:
        cpu0, start, started = proc_cpu_ns(view.pid), time.time(), time.monotonic()
        result = run_batch(app, plan(jobs, 0.0, "sleep", QUEUE), timeout_s=timeout_s)
        cpu1, end, elapsed = proc_cpu_ns(view.pid), time.time(), time.monotonic() - started
        record = view.finish()
    return {**view_figures(record, start, end), "cpu_core_share": (cpu1 - cpu0) / 1e9 / elapsed,
            "jobs_per_s": jobs / result.wall_s, "failed": len(result.failed), "seconds": elapsed}
