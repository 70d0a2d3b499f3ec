"""Where a worker's time goes per job: `python -m benchmarks.profile_worker [--jobs N]`.

Starts a local cluster of one worker (the project's settings, the recovery service beside
it), warms it up, then runs `--jobs` no-op jobs through it while py-spy samples the worker's
main process and its pool process (`py-spy record --subprocesses -f raw`; `pip install
py-spy`). Each sampled stack is put in the first category whose pattern it matches (pure,
`categorize`), and the shares are printed per process. py-spy leaves out idle threads, so a
share is of the active time: CPU, and short waits on Redis replies that it does not count as
idle. Stops everything it started, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from devcluster.local_cluster import LocalCluster, make_app
from producer.jobs import plan
from producer.submit import run_batch

#: (process, label, pattern): a stack goes to the first of its process whose pattern it contains.
CATEGORIES = (
    ("pool", "the run's finish and the result, one Lua step (runs:<id>, its result)", r"record_finish|stored_result"),
    ("pool", "the run's start (only with the results on another Redis)", r"record_start"),
    ("pool", "storing the result (Celery: read, SETEX, PUBLISH; a failure's)", r"mark_as_done|store_result"),
    ("pool", "the result back to the main process (pipe)", r"_SimpleQueue\.put"),
    ("pool", "the job from the main process (pipe)", r"_make_protected_receive|_recv"),
    ("pool", "the job itself (arguments, record, log line, sleep)", r"run_job"),
    ("pool", "Celery's trace around it", r"trace_task"),
    ("main", "task events: task-received, -started, -succeeded (a PUBLISH each)", r"_flush_events|EventDispatcher"),
    ("main", "taking the job off the queue (BRPOP reply, delivery)", r"_brpop_read|Transport\._deliver|on_readable"),
    ("main", "handing it to the pool process (pipe)", r"_write_job|schedule_writes|send_offset"),
    ("main", "acknowledging it (kombu's unacked bookkeeping)", r"QoS\.append|QoS\.ack|basic_ack|Message\.ack"),
    ("main", "the job's result from the pool process (pipe)", r"on_result_readable|ResultHandler"),
    ("main", "a new redis-py client object per command (kombu's Redis channel)", r"Redis\.__init__"),
    ("main", "the event loop itself: poll set-up, timers", r"on_poll_start|fire_timers|_pop_ready"),
    ("main", "waiting in epoll", r"_epoll\.poll|\bpoll\b"),
)
OTHER = "other"


def parse_raw(lines: Iterable[str]) -> list[tuple[str, int]]:
    """py-spy's raw (collapsed) format: `frame;frame;... count` per line, into (stack, count)."""
    samples = []
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack, int(count)))
    return samples


def categorize(samples: Iterable[tuple[str, int]]) -> dict[str, Counter[str]]:
    """Samples per category, per process ("pool" or "main"); unmatched ones count as OTHER.

    py-spy (`--subprocesses`) starts each stack with the process it was taken in, a child's
    after its parent's (`process 12:"...";process 15:"...";frames...`): two of them, the pool
    process. That holds whatever the titles say (setproctitle renames them when installed).
    The patterns are matched against the process's own frames only.
    """
    found: dict[str, Counter[str]] = {"main": Counter(), "pool": Counter()}
    for stack, count in samples:
        frames = stack.split(";")
        process = "pool" if sum(f.startswith("process ") for f in frames) >= 2 else "main"
        own = ";".join(f for f in frames if not f.startswith("process "))
        label = next((label for where, label, pattern in CATEGORIES if where == process and re.search(pattern, own)),
                     OTHER)
        found[process][label] += count
    return found


def shares(found: dict[str, Counter[str]]) -> list[tuple[str, str, float]]:
    """(process, label, share of that process's samples), categories in CATEGORIES' order, OTHER last."""
    rows = []
    for process in ("main", "pool"):
        total = sum(found[process].values())
        labels = [label for where, label, _ in CATEGORIES if where == process] + [OTHER]
        rows += [(process, label, found[process][label] / total) for label in labels if total]
    return rows


def sampling(spy: subprocess.Popen[str], grace_s: float = 1.0) -> None:
    """Fail with py-spy's own words if it exits within `grace_s` (it cannot read the process).

    Off a terminal py-spy says nothing while it samples, so still running after the grace
    is the only sign it attached; its samples come to its output file when it stops.
    """
    try:
        spy.wait(grace_s)
    except subprocess.TimeoutExpired:
        return
    said = spy.stderr.read().strip() if spy.stderr is not None else ""
    raise ProfileError(f"py-spy could not sample the worker: {said[-300:] or f'exit {spy.returncode}'} "
                       "(reading another process needs root or ptrace permission)")


class ProfileError(RuntimeError):
    """py-spy is missing or cannot attach."""


def profile(jobs: int, rate_hz: int, out: Path) -> float:
    """Run `jobs` no-op jobs on one local worker under py-spy; returns jobs/s. The samples go to `out`."""
    spy_binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy_binary).exists():
        raise ProfileError("py-spy not found (pip install py-spy)")
    out.parent.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="cpd-profile-"))
    cluster = LocalCluster.start(directory, 1, prefix="profile", appendonly=False)
    app = make_app(cluster.broker_url, cluster.result_backend)
    try:
        run_batch(app, plan(50, 0.0), timeout_s=60)  # warm: connections, imports, the pool process
        spy = subprocess.Popen([spy_binary, "record", "--pid", str(cluster.workers[0].pid), "--subprocesses",
                                "--rate", str(rate_hz), "--format", "raw", "--output", str(out), "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            sampling(spy)
            batch = run_batch(app, plan(jobs, 0.0), timeout_s=60 + jobs)
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait(60)
        if spy.returncode not in (0, -signal.SIGINT) or not out.exists():
            raise ProfileError(f"py-spy exited with {spy.returncode} and wrote no samples")
        return jobs / batch.wall_s
    finally:
        app.close()
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a fresh cluster; their samples add up")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, default=Path("worker-profile.raw"),
                        help="where py-spy's samples go (run i of several: FILE.i)")
    args = parser.parse_args(argv)
    files = [args.raw] if args.repeat == 1 else [args.raw.with_name(f"{args.raw.name}.{i + 1}")
                                                 for i in range(args.repeat)]
    try:
        rates = [profile(args.jobs, args.rate, raw) for raw in files]
    except ProfileError as exc:
        print(f"profile_worker: {exc}", file=sys.stderr)
        return 1
    found = categorize(sample for raw in files for sample in parse_raw(raw.read_text().splitlines()))
    samples = {process: sum(counter.values()) for process, counter in found.items()}
    print(f"{args.jobs} no-op jobs on one worker, {len(files)} run(s): {statistics.median(rates):.0f} jobs/s "
          f"(median); samples: main {samples['main']}, pool {samples['pool']} ({args.rate}/s)")
    for process, label, share in shares(found):
        print(f"{process:<5} {share:6.1%}  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
