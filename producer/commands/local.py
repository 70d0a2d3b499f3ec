"""`python -m producer local up|status|logs|down`: the cluster as local processes, for machines without Docker.

Errors are LocalClusterError / RedisServerMissing, printed as one line by producer.commands.main.main.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from collections import deque
from pathlib import Path

import click
from kombu.utils.url import maybe_sanitize_url

from cluster.errors import RET_OK, ExtraMissing, LocalClusterError
from devcluster.local_cluster import LocalCluster
from producer.commands.options import Number, WholeNumber
from settings import current
from worker.records import POOLS


def echo_err(text: str) -> None:
    click.echo(text, err=True)


@click.group(short_help="The cluster as processes on this machine, no Docker.")
def local() -> None:
    """Run the cluster as processes on this machine, no Docker: `local up`, then the producer as usual.

    While it is up, `python -m producer ...` (and `celery -A worker ...`) find it without any
    variable. State, Redis' data and logs live in $LOCAL_CLUSTER_DIR, else
    $XDG_RUNTIME_DIR/celery-parallelism, else ~/.cache/celery-parallelism/local.
    """


@local.command(short_help="Start Redis and N workers; wait until they answer.")
@click.option("--workers", "-w", type=WholeNumber(1, 64), default=2, show_default=True,
              help="Worker processes (`celery -A worker worker`), each its own node.")
@click.option("--concurrency", "-c", type=WholeNumber(1, 64), default=1, show_default=True,
              help="Jobs each worker runs at once (pool processes or threads).")
@click.option("--pool", "-P", type=click.Choice(POOLS), default="prefork", show_default=True,
              help="How each worker runs its jobs at once: processes, threads, greenlets, or one at a time.")
@click.option("--queue", "-q", default=lambda: current().queue, show_default="$QUEUE or jobs",
              help="Queue the workers consume.")
@click.option("--port", type=WholeNumber(1, 65535), default=None,
              help="Redis' port on 127.0.0.1 [default: a free one].")
@click.option("--flower", is_flag=True, help="Also start Flower on a free port (needs the flower extra).")
@click.option("--loglevel", default=lambda: current().worker_loglevel, show_default="$WORKER_LOGLEVEL or INFO",
              help="The workers' log level.")
@click.option("--timeout", type=Number(1, 600), default=60, show_default=True,
              help="Seconds to wait for every worker to answer.")
def up(workers: int, concurrency: int, pool: str, queue: str, port: int | None, flower: bool, loglevel: str,
       timeout: float) -> int:
    """Start a password-protected redis-server and the workers; wait until all of them answer.

    If a cluster is already up, says so and exits 0 without changing it (`local down` first).
    On any failure (port taken, no redis-server, a worker that exits) nothing is left running.
    """
    if flower and importlib.util.find_spec("flower") is None:
        raise ExtraMissing("--flower", "flower", "flower")
    if pool == "gevent" and importlib.util.find_spec("gevent") is None:
        raise ExtraMissing("--pool gevent", "gevent", "gevent")
    directory = current().local_cluster_dir
    existing = LocalCluster.load(directory)
    if existing is not None and existing.redis.running():
        echo_err(f"a local cluster is already up: {len(existing.workers)} workers, Redis on 127.0.0.1:{existing.port} "
                 f"(python -m producer local status; local down to start another)")
        return RET_OK
    if existing is not None:  # its Redis died (a reboot, a crash): stop what is left of it first
        existing.stop(grace_s=5)
        echo_err("removed a local cluster whose redis-server had stopped")
    if click.get_text_stream("stderr").isatty():  # progress for a person; a script sees only the outcome
        echo_err(f"starting redis-server and {workers} workers in {directory} ...")
    started = time.monotonic()
    cluster = LocalCluster.start(directory, workers, concurrency=concurrency, queue=queue, pool=pool, port=port,
                                 flower=flower, loglevel=loglevel, timeout_s=timeout)
    plural = "s" * (workers != 1)
    click.echo(f"local cluster up in {time.monotonic() - started:.1f} s: {workers} worker{plural} x {concurrency} "
               f"{pool} on queue '{queue}', Redis on 127.0.0.1:{cluster.port} (passwords in {cluster.secrets_dir})")
    producer = f"{python_command()} -m producer"
    click.echo(f"  run jobs:   {producer} --jobs 8")
    click.echo(f"  processes:  {producer} local status")
    click.echo(f"  logs:       {producer} local logs -f")
    if cluster.flower_url:
        click.echo(f"  Flower:     {cluster.flower_url} (admin / {cluster.flower_password})")
    click.echo(f"  stop it:    {producer} local down")
    return RET_OK


def python_command() -> str:
    """The Python that has this project, as a user would type it: `python` when that is the one on
    PATH, else its path (relative below the current folder: `.venv/bin/python`)."""
    here = Path(sys.executable)
    on_path = shutil.which("python")
    if on_path and Path(on_path).resolve() == here.resolve():
        return "python"
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def require() -> LocalCluster:
    cluster = LocalCluster.load(current().local_cluster_dir)
    if cluster is None:
        raise LocalClusterError("no local cluster is up: python -m producer local up")
    return cluster


@local.command(short_help="The local cluster's processes, and whether each runs.")
def status() -> int:
    """Show the cluster's processes, and whether each still runs (exit 5 if any has stopped)."""
    cluster = require()
    click.echo(f"local cluster started {cluster.started_at}, state in {cluster.directory}")
    click.echo(f"  broker {maybe_sanitize_url(cluster.broker_url)}, "
               f"results {maybe_sanitize_url(cluster.result_backend)}")
    if cluster.flower_url:
        click.echo(f"  Flower {cluster.flower_url} (admin / {cluster.flower_password})")
    stopped = 0
    for process in [cluster.redis, *cluster.workers, *([cluster.recovery] if cluster.recovery else []),
                    *([cluster.flower] if cluster.flower else [])]:
        running = process.running()
        stopped += not running
        click.echo(f"  {process.name:<32} pid {process.pid:<8} {'running' if running else 'STOPPED':<8} {process.log}")
    if stopped:
        raise LocalClusterError(f"{stopped} of {len(cluster.processes())} processes have stopped: "
                                f"python -m producer local down, then local up")
    return RET_OK


@local.command(short_help="The workers' logs (-f to follow).")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C or `local down`.")
@click.option("--lines", "-n", type=WholeNumber(0), default=20, show_default=True,
              help="Lines to show from the end of each log.")
def logs(follow: bool, lines: int) -> int:
    """The workers' logs (then Flower's and Redis'), each line prefixed with who wrote it."""
    cluster = require()
    files = list(cluster.logs())
    width = max(len(name) for name, _ in files)
    offsets: dict[Path, int] = {}
    for name, path in files:
        if not path.exists():
            continue  # a process that has not written anything yet
        with open(path, "rb") as log:
            for line in deque(log, maxlen=lines) if lines else ():
                click.echo(f"{name:<{width}} | {line.decode(errors='replace').rstrip()}")
            offsets[path] = log.tell()
    try:
        while follow:
            running = cluster.redis.running()  # asked first: lines written before it stopped are still shown
            for name, path in files:
                if not path.exists():
                    continue
                with open(path, "rb") as log:
                    log.seek(offsets.get(path, 0))
                    for line in iter(log.readline, b""):
                        if not line.endswith(b"\n"):
                            break  # half a line: print it once it is complete
                        click.echo(f"{name:<{width}} | {line.decode(errors='replace').rstrip()}")
                        offsets[path] = log.tell()
            if not running:
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one stops following
    return RET_OK


@local.command(short_help="Stop exactly the processes `local up` started.")
@click.option("--grace", type=Number(0, 600), default=15, show_default=True,
              help="Seconds running jobs get to finish before their processes are killed.")
def down(grace: float) -> int:
    """Stop exactly the processes `local up` started (by pid and process group) and remove its state.

    Works from any shell, also after the one that ran `local up` is gone. Logs stay.
    """
    cluster = LocalCluster.load(current().local_cluster_dir)
    if cluster is None:
        echo_err("no local cluster is up: nothing to stop")
        return RET_OK
    pids = [p.pid for p in cluster.processes() if p.running()]
    cluster.stop(grace)
    click.echo(f"stopped the local cluster ({len(pids)} processes: {', '.join(map(str, pids)) or 'none running'}); "
               f"logs stay in {cluster.log_dir}")
    return RET_OK
