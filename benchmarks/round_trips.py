"""Redis round trips a worker makes per job: `python -m benchmarks.round_trips [--jobs N]`.

The project's worker (one process, the local cluster: the hand-off, the run list, the
recovery service beside it) against Celery with the same guarantees and nothing else of the
project (`BareCluster.guaranteed`), one worker each on the same redis-server. Each runs
`--jobs` no-op jobs from the producer's batch runner while strace counts, in the worker's
main process and in its pool process apart, the calls that send a request to Redis: a
command or a whole pipeline goes out in one `sendto` (redis-py's `sendall`), a job to or a
result from the pool process goes through a pipe (`write`), not counted. So a count is
round trips, whatever a script or a pipeline does inside one. Needs strace (Debian: `apt
install strace`) and the right to trace the workers (root, or ptrace permission).

Pure: `count_sends` (strace's output into sends per process). The goal (#30): the pool
process makes no more round trips per job than guaranteed Celery's.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from benchmarks.clusters import BareCluster, BenchLocalCluster, children
from producer.jobs import plan
from producer.submit import run_batch

#: strace -f's line for a traced call: `<pid> sendto(...` (or `[pid N] sendto(...`).
_SEND = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+sendto\(")
_FAILED = re.compile(r"=\s*-1\s+[A-Z]+")


class TraceError(RuntimeError):
    """strace is missing or cannot attach."""


def count_sends(lines: Iterable[str]) -> Counter[int]:
    """Calls of `sendto` per process id in strace's output (`strace -f -qq -e trace=sendto`); a call
    that failed (`= -1 EAGAIN ...`) sent nothing. One left `<unfinished ...>` by another thread's
    line counts where it starts."""
    found: Counter[int] = Counter()
    for line in lines:
        if (match := _SEND.match(line.strip())) and not _FAILED.search(line):
            found[int(match.group(1))] += 1
    return found


def traced(main_pid: int, run: Callable[[], object], jobs: int, out: Path) -> dict[str, float]:
    """Round trips per job of the worker `main_pid` (its main and pool processes) while `run()` runs."""
    strace = shutil.which("strace")
    if strace is None:
        raise TraceError("strace not found (Debian: apt install strace)")
    pool = children(main_pid)
    command = [strace, "-f", "-qq", "-e", "trace=sendto", "-o", str(out), "-p", str(main_pid)]
    for pid in pool:
        command += ["-p", str(pid)]
    tracer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # attached (strace says nothing on success)
        if tracer.poll() is not None:
            raise TraceError(f"strace could not attach: {(tracer.stderr.read() if tracer.stderr else '')[-300:]}")
        run()
        time.sleep(0.5)  # the last acknowledgements
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
    sends = count_sends(out.read_text().splitlines())
    in_pool = sum(n for pid, n in sends.items() if pid in pool)
    return {"main": (sum(sends.values()) - in_pool) / jobs, "pool": in_pool / jobs}


def measure(jobs: int) -> dict[str, dict[str, float]]:
    """{"project": {"main", "pool"}, "guaranteed": {...}}: round trips per job, one worker each."""
    project = BenchLocalCluster(flower=False)
    found = {}
    try:
        project.start(1)
        bare = BareCluster.guaranteed(project)
        try:
            bare.start(1)
            for name, main_pid, cluster in (("project", project.started().workers[0].pid, project),
                                            ("guaranteed", bare.processes[0].pid, bare)):
                app = cluster.app()
                try:
                    run_batch(app, plan(20, 0.0), timeout_s=60)  # warm: connections, imports, the pool process
                    found[name] = traced(main_pid, partial(run_batch, app, plan(jobs, 0.0), timeout_s=60 + jobs),
                                         jobs, project.tmp / f"{name}.strace")
                finally:
                    app.close()
        finally:
            bare.stop()
    finally:
        project.stop()
        shutil.rmtree(project.tmp, ignore_errors=True)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.round_trips", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    try:
        found = measure(args.jobs)
    except TraceError as exc:
        print(f"round_trips: {exc}", file=sys.stderr)
        return 1
    print(f"Redis round trips per job, {args.jobs} no-op jobs on one worker:")
    print(f"{'':<12}{'main process':>14}{'pool process':>14}")
    for name, trips in found.items():
        print(f"{name:<12}{trips['main']:>14.2f}{trips['pool']:>14.2f}")
    ok = found["project"]["pool"] <= found["guaranteed"]["pool"] + 0.05
    print(f"goal: the pool process no more than guaranteed Celery's: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
