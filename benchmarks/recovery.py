"""How long a killed worker's job waits before it starts elsewhere: recovery service vs backstop.

`python -m benchmarks.recovery` starts a local cluster of 2 workers, sends one job, SIGKILLs
the process group of the worker that runs it (as `docker kill` does) and measures, on one
clock, from the kill to the job's `started_at` on the other worker; `--reps` times each,
median reported. `--compose` does the same to a compose project of its own: `docker kill`
of the busy worker's container, the recovery service as compose runs it (`--long-job S`:
then one job of S seconds on a live worker, and how many times it started). First with the
recovery service (recovery/service.py), then without it (compose: `stop recovery`), where
only kombu's visibility timeout brings the job back (the backstop; measured with
`--backstop-timeout`, 30 s by default as before issue 11, since the default hour is not
worth waiting for: it costs that hour plus up to `unacked_restore_interval`, 5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from celery import Celery

from benchmarks.clusters import ComposeCluster
from benchmarks.measures import QUEUE
from cluster.workers import wait_for_workers
from devcluster.local_cluster import LocalCluster, make_app
from worker import runs
from worker.records import JobRecord

JOB_S = 10.0  # longer than the service's detection, so the job is surely still running when its worker dies


def one_kill(cluster: LocalCluster, timeout_s: float) -> float:
    """Seconds from SIGKILL of the busy worker to its job's start on another worker."""
    app = make_app(cluster.broker_url, cluster.result_backend)
    try:
        result = app.send_task("task1", kwargs={"duration": JOB_S}, queue=cluster.queue)
        holder = busy_worker(app, result.id)
        victim = next(w for w in cluster.workers if w.name == holder)
        os.killpg(victim.pid, signal.SIGKILL)
        killed_at = time.time()
        record = result.get(timeout=timeout_s)
        cluster.workers.remove(victim)
        cluster.add_workers(1, prefix="bench")  # back to two for the next kill
        return datetime.fromisoformat(record["started_at"]).timestamp() - killed_at
    finally:
        app.close()


def busy_worker(app: Celery, task_id: str, within_s: float = 30) -> str:
    """The node name of the worker running `task_id`, asked with remote control."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        active = app.control.inspect(timeout=0.5).active() or {}
        holder = next((name for name, jobs in active.items() if any(j["id"] == task_id for j in jobs)), None)
        if holder is not None:
            return holder
    raise RuntimeError(f"no worker took the job within {within_s:.0f} s")


def one_docker_kill(cluster: ComposeCluster, timeout_s: float) -> float:
    """Seconds from `docker kill` of the busy worker container to its job's start in another."""
    app = cluster.app()
    try:
        result = app.send_task("task1", kwargs={"duration": JOB_S}, queue=QUEUE)
        container = busy_worker(app, result.id).partition("@")[2]  # worker@<container id>
        killed_at = time.time()  # as the fault test: before the CLI's own latency
        subprocess.run(["docker", "kill", container], check=True, capture_output=True, timeout=30)
        record = JobRecord.from_json(result.get(timeout=timeout_s))
        if record.hostname == container or not record.redelivered:
            raise RuntimeError(f"the job ended in {record.hostname} (redelivered: {record.redelivered}), "
                               f"not after the kill of {container}")
        # a killed container stays down (Docker's manual stop): back to two workers, and only
        # workers (a plain `up` would start a stopped recovery service too)
        cluster.compose("up", "-d", "--wait", "--no-deps", "--scale", f"worker={cluster.workers}", "worker")
        return record.started_at.timestamp() - killed_at
    finally:
        app.close()


def one_partition(cluster: ComposeCluster, timeout_s: float) -> float:
    """Seconds from `docker network disconnect` of the busy worker container (its host vanishes:
    Redis keeps its half-open connections) to its job's start in another; then the network is
    given back and the same container must answer again by itself."""
    app = cluster.app()
    network = f"{cluster.project}_default"
    try:
        result = app.send_task("task1", kwargs={"duration": JOB_S}, queue=QUEUE)
        node = busy_worker(app, result.id)
        container = node.partition("@")[2]
        cut_at = time.time()
        subprocess.run(["docker", "network", "disconnect", network, container], check=True, capture_output=True,
                       timeout=30)
        try:
            record = JobRecord.from_json(result.get(timeout=timeout_s))
        finally:
            subprocess.run(["docker", "network", "connect", network, container], check=True, capture_output=True,
                           timeout=30)
        if record.hostname == container or not record.redelivered:
            raise RuntimeError(f"the job ended in {record.hostname} (redelivered: {record.redelivered}), "
                               f"not after {container} was cut off")
        wait_for_workers(app, [node], timeout_s=60)  # back by itself, nobody restarts it
        return record.started_at.timestamp() - cut_at
    finally:
        app.close()


def long_job_runs(cluster: ComposeCluster, seconds: float) -> dict[str, Any]:
    """One job of `seconds` on a live, heartbeating worker: how many times it started (its
    `runs:<id>` list, worker.runs) and whether it was handed out again."""
    app = cluster.app()
    try:
        result = app.send_task("task1", kwargs={"duration": seconds}, queue=QUEUE)
        record = JobRecord.from_json(result.get(timeout=seconds + 60))
        started = runs.read_runs(app.backend.client, [result.id])[result.id]
        return {"long_job_s": seconds, "long_job_runs": len(started), "long_job_redelivered": record.redelivered}
    finally:
        app.close()


def kill_row(where: str, service: bool, visibility_timeout: int, times: list[float]) -> dict[str, Any]:
    """One row of figures: where, with or without the service, each kill-to-start time and their median."""
    return {"where": where, "service": service, "visibility_timeout_s": visibility_timeout, "kill_to_start_s": times,
            "median_s": statistics.median(times)}


def measure_compose(reps: int, service: bool, visibility_timeout: int, long_job_s: float = 0,
                    fault: str = "kill") -> dict[str, Any]:
    """`measure` on a compose project of its own: `docker kill` of the busy worker's container
    (fault "kill") or its network cut ("disconnect"); without the service, `compose stop
    recovery`. With `long_job_s`, one long job after the faults."""
    cluster = ComposeCluster()
    cluster.env["VISIBILITY_TIMEOUT"] = str(visibility_timeout)  # compose passes it to every app container
    try:
        cluster.start(2)
        if not service:
            cluster.compose("stop", "recovery")
        one = one_partition if fault == "disconnect" else one_docker_kill
        times = [one(cluster, visibility_timeout + 60 + JOB_S) for _ in range(reps)]
        long_job = long_job_runs(cluster, long_job_s) if long_job_s else {}
    finally:
        cluster.stop()
    return {**kill_row("compose", service, visibility_timeout, times), "fault": fault, **long_job}


def measure(reps: int, service: bool, visibility_timeout: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cpd-recovery-"))
    previous = os.environ.get("VISIBILITY_TIMEOUT")
    os.environ["VISIBILITY_TIMEOUT"] = str(visibility_timeout)  # the workers' backstop
    try:
        cluster = LocalCluster.start(tmp, 2, prefix="bench", appendonly=False, recovery=service)
        try:
            times = [one_kill(cluster, visibility_timeout + 60 + JOB_S) for _ in range(reps)]
        finally:
            cluster.stop(grace_s=20)
    finally:
        if previous is None:
            os.environ.pop("VISIBILITY_TIMEOUT", None)
        else:
            os.environ["VISIBILITY_TIMEOUT"] = previous
        shutil.rmtree(tmp, ignore_errors=True)
    return kill_row("local", service, visibility_timeout, times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recovery", description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--backstop-timeout", type=int, default=30,
                        help="VISIBILITY_TIMEOUT for the run without the service")
    parser.add_argument("--skip-backstop", action="store_true")
    parser.add_argument("--compose", action="store_true",
                        help="Kill worker containers of a compose project of its own (docker kill).")
    parser.add_argument("--long-job", type=float, default=0, metavar="SECONDS",
                        help="With --compose: then one job this long on a live worker; how many times it ran.")
    parser.add_argument("--fault", choices=("kill", "disconnect"), default="kill",
                        help="With --compose: docker kill the busy container, or cut it off the network "
                             "(docker network disconnect) and heal it after its job started elsewhere.")
    parser.add_argument("--json", type=Path, help="Write the figures to this file.")
    args = parser.parse_args(argv)
    if (args.long_job or args.fault != "kill") and not args.compose:
        parser.error("--long-job and --fault need --compose")
    from settings import current

    if args.compose:
        rows = [measure_compose(args.reps, True, current().visibility_timeout, args.long_job, args.fault)]
    else:
        rows = [measure(args.reps, True, current().visibility_timeout)]
    if not args.skip_backstop:
        rows.append((measure_compose if args.compose else measure)(args.reps, False, args.backstop_timeout))
    for row in rows:
        how = "recovery service" if row["service"] else "backstop only"
        each = ", ".join(f"{t:.1f}" for t in row["kill_to_start_s"])
        fault = "cut off" if row.get("fault") == "disconnect" else "kill"
        print(f"{row['where']:<8} {how:<17} visibility timeout {row['visibility_timeout_s']:>5} s: "
              f"{fault} -> start elsewhere median {row['median_s']:.1f} s ({each})")
        if "long_job_runs" in row:
            again = ", handed out again" if row["long_job_redelivered"] else ", never handed out again"
            print(f"{row['where']:<8} a {row['long_job_s']:.0f} s job on a live worker started "
                  f"{row['long_job_runs']} time(s){again}")
    if args.json:
        args.json.write_text(json.dumps({"recovery": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
