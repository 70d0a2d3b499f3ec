"""`python -m benchmarks.nemesis`: jobs from two kinds of client while faults strike, then the history checked.

In the spirit of Jepsen: a compose cluster of its own (WORKERS containers and the recovery
service) runs jobs sent by the producer (batches, `python -m producer --json`) and by a plain
Celery client (`send_task`, kombu's stock transport: none of this project's code) for N
minutes, while a seeded schedule kills, freezes and cuts off workers, restarts Redis and pushes
junk onto the queue; every fault is healed after its hold, as an orchestrator or the network
would (a killed container comes back by its restart policy). Then it checks what happened:

- every job submitted has exactly one outcome, and it is a success (no job lost, no healthy
  job failed): the plain client's by its result, the producer's by its batch's report;
- every extra run is on record (the jobs' run lists) and each batch's `duplicates` equals
  what the run lists said when it reported;
- the cluster is back to full strength (every worker answers) with no step but the healing.

    python -m benchmarks.nemesis --minutes 10 --seed 7         # prints the schedule as it goes
    python -m benchmarks.nemesis --minutes 1 --seed 169 --json run.json  # CI: tests/faults/test_nemesis.py

Exit 0 if every check holds, 1 if one does not (each said in one line), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery import Celery, states

from cluster.workers import wait_for_workers
from devcluster.compose import ComposeProject, docker_ready
from producer.jobs import Status
from worker import layout, runs

#: The faults, and how long each is held before it is healed (seconds, drawn between the two).
HOLDS = {"kill": (0.0, 0.0), "pause": (3.0, 12.0), "cut": (3.0, 15.0), "redis-restart": (0.0, 0.0),
         "junk": (0.0, 0.0)}
#: Seconds between the end of one fault and the start of the next (drawn between the two).
GAP_S = (4.0, 10.0)
#: The plain client's jobs per second, and the duration of each (drawn between the two).
PLAIN_RATE = 3.0
PLAIN_DURATION_S = (0.05, 0.4)
#: Each producer batch: how many jobs, of how long.
BATCH_JOBS, BATCH_DURATION_S = 16, 0.2
#: Seconds after the load stops for every job to end and every worker to answer.
SETTLE_S = 180.0


@dataclass(frozen=True)
class Fault:
    """One strike: when (seconds from the start), what, at which worker (an index), held how long."""

    at_s: float
    kind: str
    target: int
    hold_s: float

    def describe(self, name: str = "") -> str:
        what = {"kill": "kill (SIGKILL of its main process)", "pause": f"freeze (docker pause) for {self.hold_s:.1f} s",
                "cut": f"cut off (network disconnect) for {self.hold_s:.1f} s",
                "redis-restart": "restart Redis", "junk": "push junk onto the queue"}[self.kind]
        who = f" worker {self.target}{f' ({name})' if name else ''}" if self.kind in ("kill", "pause", "cut") else ""
        return f"+{self.at_s:6.1f} s {what}{who}"


def schedule(seed: int, seconds: float, workers: int) -> list[Fault]:
    """The faults of a run (pure: the same seed, the same schedule); none starts in the last 15 s."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    at = rng.uniform(*GAP_S)
    while at < seconds - 15:
        kind = rng.choice(sorted(HOLDS))
        hold = round(rng.uniform(*HOLDS[kind]), 1)
        faults.append(Fault(round(at, 1), kind, rng.randrange(workers), hold))
        at += hold + rng.uniform(*GAP_S)
    return faults


@dataclass
class History:
    """What was sent and what came back."""

    plain: dict[str, str] = field(default_factory=dict)  # task id -> "sent" | "unsure" (the send raised)
    batches: list[dict[str, Any]] = field(default_factory=list)  # each batch's exit code and JSON document
    faults: list[str] = field(default_factory=list)  # the schedule as it was carried out
    # (container id, from, to): a worker cut off or frozen then; a run it finished meanwhile was written to
    # Redis only after, with its finish's own time: a reader before that did not see the finish
    blind: list[tuple[str, datetime, datetime]] = field(default_factory=list)


@dataclass
class Verdict:
    jobs: int
    plain_jobs: int
    producer_jobs: int
    succeeded: int
    lost: int
    failed: int
    extra_runs: int
    batches: int
    batches_refused: int
    back_to_full_strength_s: float | None
    faults: dict[str, int]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def as_of(then: list[runs.Run], moment: datetime | None) -> list[runs.Run]:
    """A job's runs as a reader at `moment` found them: the runs started by then, the finishes after it not
    yet written (None: no moment known, all of them)."""
    if moment is None:
        return then
    return [replace(r, finished_at=None) if r.finished_at is not None and r.finished_at > moment else r
            for r in then if r.started_at <= moment]


def told(found: list[runs.Run]) -> str:
    """A job's runs in one line, with when each finished."""
    return ", ".join(r.describe() + (f" to {r.finished_at:%H:%M:%S.%f}" if r.finished_at else "") for r in found)


def unseen_finish(run: runs.Run, blind: list[tuple[str, datetime, datetime]]) -> bool:
    """Whether `run` finished while its worker was cut off or frozen: its finish reached Redis after the heal,
    dated earlier, so a reader between the two found the run unfinished (a redelivery, not a duplicate)."""
    host = run.worker.partition("@")[2]
    return run.finished_at is not None and bool(host) and any(
        container.startswith(host) and begun <= run.finished_at <= ended for container, begun, ended in blind)


def last_received(results: list[dict[str, Any]]) -> datetime | None:
    """When the batch's last result came: the producer read its run lists after it."""
    return max((datetime.fromisoformat(r["received_at"]) for r in results if r.get("received_at")), default=None)


def judge(history: History, plain_results: dict[str, dict[str, Any] | None], run_lists: dict[str, list[runs.Run]],
          back_s: float | None, faults: list[Fault]) -> Verdict:
    """The checks, from what was recorded (pure)."""
    problems: list[str] = []
    lost = failed = succeeded = 0
    for task_id, how in history.plain.items():
        result = plain_results.get(task_id)
        if result is None:
            if how == "sent":
                lost += 1
                problems.append(f"plain job {task_id}: sent, no outcome (lost)")
        elif result.get("status") != states.SUCCESS:  # Celery's state, read from its result backend
            failed += 1
            problems.append(f"plain job {task_id}: {result.get('status')} ({result.get('error', '')})"[:200])
        else:
            succeeded += 1
    producer_jobs = refused = 0
    for batch in history.batches:
        code, document = batch["returncode"], batch.get("document")
        if code == 3 and document is None:  # Redis went away while it submitted: one line, by design
            refused += 1
            continue
        if document is None:
            problems.append(f"a batch exited {code} without a report: {batch.get('stderr', '')[-200:]}")
            continue
        results = document["results"]
        producer_jobs += len(results)
        for r in results:
            if r["status"] == Status.SUCCESS:  # the producer's report
                succeeded += 1
            elif r["status"] == Status.PENDING:
                lost += 1
                problems.append(f"producer job {r['task_id']}: no outcome (lost)")
            else:
                failed += 1
                problems.append(f"producer job {r['task_id']}: {r['status']}")
        # The producer read the run lists after its last result; they were read again a moment later
        # (`runs_then`): a copy cut off by the fence that finished meanwhile (a frozen worker thawed) may
        # be a duplicate in the second reading and not in the first. Each job's report must hold for the
        # first: every duplicate certain by then reported, and none reported the second does not show.
        said, read_after = document["summary"]["duplicates"], last_received(results)
        reported = {r["task_id"] for r in results if r.get("ran_twice")}
        then = batch["runs_then"]
        possible = {r["task_id"] for r in results if runs.duplicate_runs(then.get(r["task_id"], []))}
        certain = {i for i in possible if runs.duplicate_runs(as_of(then[i], read_after))
                   and not any(unseen_finish(r, history.blind) for r in then[i])}
        if said != len(reported) or not certain <= reported <= possible:
            wrong = sorted((certain - reported) | (reported - possible))[:3]
            problems.append(f"a batch reported {said} duplicates, its run lists said {len(possible)}"
                            + (f" ({len(possible - certain)} may have finished after the report)"
                               if possible - certain else "")
                            + "".join(f"; {i}: {told(then.get(i, []))}" for i in wrong))
    extra = sum(len(found) - 1 for found in run_lists.values() if len(found) > 1)
    if back_s is None:
        problems.append("the cluster did not come back to full strength by itself")
    kinds: dict[str, int] = {}
    for f in faults:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    plain_sent = sum(1 for how in history.plain.values() if how == "sent")
    return Verdict(plain_sent + producer_jobs, plain_sent, producer_jobs, succeeded, lost, failed, extra,
                   len(history.batches), refused, back_s, kinds, problems)


def outcomes(app: Celery, task_ids: list[str], timeout_s: float) -> dict[str, dict[str, Any] | None]:
    """Each job's stored outcome ({"status", "error"}), read from the result backend until all are
    ready or `timeout_s` passed (None: none stored). Polled, so a Redis restart costs a look, not the wait."""
    found: dict[str, dict[str, Any] | None] = dict.fromkeys(task_ids)
    deadline = time.monotonic() + timeout_s
    while True:
        waiting = [t for t, o in found.items() if o is None or o["status"] not in (states.SUCCESS, states.FAILURE)]
        if not waiting or time.monotonic() > deadline:
            return found
        try:
            metas = app.backend.client.mget([app.backend.get_key_for_task(t) for t in waiting])
        except Exception:  # noqa: BLE001  (Redis away a moment: look again)
            metas = [None] * len(waiting)
        for task_id, raw in zip(waiting, metas, strict=True):
            if raw is not None:
                meta = json.loads(raw)
                found[task_id] = {"status": meta.get("status"), "error": "" if meta.get("status") == states.SUCCESS
                                  else str(meta.get("result"))[:200]}
        time.sleep(1.0)


class Nemesis:
    """Carries out a schedule on a compose project's containers."""

    def __init__(self, compose: ComposeProject, say: Callable[[str], None]) -> None:
        self.compose, self.say = compose, say
        self.network = f"{compose.project}_default"

    def containers(self) -> list[str]:
        return sorted(self.compose.run("ps", "-q", "worker", check=True).stdout.split())

    def _docker(self, *args: str) -> bool:
        """Run a docker command; whether it did what it says (a fault that failed is said, not assumed)."""
        done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0 and args[0] in ("pause", "network") and "connect" not in args[:2]:
            self.say(f"  docker {' '.join(args[:2])} failed: {done.stderr.strip()[:200]}")
        return done.returncode == 0

    def strike(self, fault: Fault) -> tuple[str, datetime, datetime] | None:
        """Carry out `fault`; for a cut or a freeze, (the container, from, to): when its worker could write nothing."""
        containers = self.containers()
        target = containers[fault.target % len(containers)] if containers else ""
        name = target[:12]
        self.say(fault.describe(name))
        if fault.kind == "kill" and target:
            pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", target], capture_output=True,
                                 text=True, timeout=30).stdout.strip()
            if pid.isdigit() and int(pid) > 0:
                os.kill(int(pid), signal.SIGKILL)  # as the kernel's OOM killer: the restart policy brings it back
        elif fault.kind == "pause" and target:
            begun = datetime.now(UTC)
            # runc's freezer may give up on a busy machine ("unable to freeze"): thaw, one more try
            if not self._docker("pause", target):
                self._docker("unpause", target)
                time.sleep(1)
                self._docker("pause", target)
            time.sleep(fault.hold_s)
            self._docker("unpause", target)
            return target, begun, datetime.now(UTC)
        elif fault.kind == "cut" and target:
            begun = datetime.now(UTC)
            self._docker("network", "disconnect", self.network, target)
            time.sleep(fault.hold_s)
            self._docker("network", "connect", self.network, target)
            return target, begun, datetime.now(UTC)
        elif fault.kind == "redis-restart":
            self.compose.run("restart", "redis", timeout_s=120)
        elif fault.kind == "junk":
            client = self.compose.redis("admin")
            try:
                client.lpush("jobs", os.urandom(48), b"{}", json.dumps({"headers": {"id": "x"}}).encode())
            finally:
                client.close()

    def heal_all(self) -> None:
        for c in self.containers():
            self._docker("unpause", c)
            self._docker("network", "connect", self.network, c)


def plain_client_load(app: Celery, history: History, stop: threading.Event, rng: random.Random) -> None:
    """Send PLAIN_RATE jobs a second with `send_task` until `stop`; a send that raised may or may not have landed."""
    while not stop.is_set():
        task_id = str(uuid.uuid4())
        try:
            app.send_task(rng.choice(("task1", "task2")), kwargs={"duration": round(rng.uniform(*PLAIN_DURATION_S), 3)},
                          queue="jobs", task_id=task_id)
            history.plain[task_id] = "sent"
        except Exception:  # noqa: BLE001  (Redis restarting: the message may have landed, or not)
            history.plain[task_id] = "unsure"
        stop.wait(1 / PLAIN_RATE)


def read_runs_until_back(app: Celery, task_ids: list[str], timeout_s: float = 60.0) -> dict[str, list[runs.Run]]:
    """The jobs' run lists, asked again while Redis restarts (the nemesis may have just restarted it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return runs.read_runs(app.backend.client, task_ids)
        except Exception:  # noqa: BLE001  (Redis away a moment)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def producer_load(compose: ComposeProject, results_app: Celery, history: History, stop: threading.Event) -> None:
    """Producer batches one after another until `stop`; each batch's run lists read as it reported."""
    env = {**os.environ, **compose.env, "PRODUCER_DEBUG": os.environ.get("PRODUCER_DEBUG", "")}
    while not stop.is_set():
        try:
            proc = subprocess.run([sys.executable, "-m", "producer", "--jobs", str(BATCH_JOBS), "--duration",
                                   str(BATCH_DURATION_S), "--timeout", "150", "--json"], capture_output=True,
                                  text=True, env=env, timeout=300)
        except subprocess.TimeoutExpired:  # a batch that hangs is a finding, not the end of the load
            history.batches.append({"returncode": -1, "document": None, "stderr": "did not end within 300 s",
                                    "runs_then": {}})
            continue
        try:
            document = json.loads(proc.stdout)
        except ValueError:
            document = None
        ids = [r["task_id"] for r in document["results"]] if document else []
        runs_then = read_runs_until_back(results_app, ids) if ids else {}
        history.batches.append({"returncode": proc.returncode, "document": document, "stderr": proc.stderr[-3000:],
                                "runs_then": runs_then})


def run(minutes: float, seed: int, workers: int, say: Callable[[str], None] = print) -> Verdict:
    """Start a compose project, load and strike it for `minutes`, settle, check; always `down -v`."""
    seconds = minutes * 60
    faults = schedule(seed, seconds, workers)
    compose = ComposeProject.new(prefix="nemesis", WORKERS=str(workers))
    history = History()
    say(f"nemesis: seed {seed}, {minutes:g} min, {workers} workers, {len(faults)} faults; project {compose.project}")
    try:
        compose.up("--build")
        app = Celery(broker=compose.url(0), backend=compose.url(1))
        app.conf.broker_connection_retry = True
        nemesis = Nemesis(compose, say)
        stop = threading.Event()
        loads = [threading.Thread(target=plain_client_load, args=(app, history, stop, random.Random(seed + 1)),
                                  daemon=True),
                 threading.Thread(target=producer_load, args=(compose, app, history, stop), daemon=True)]
        for t in loads:
            t.start()
        start = time.monotonic()
        try:
            for fault in faults:
                time.sleep(max(0.0, fault.at_s - (time.monotonic() - start)))
                if (blind := nemesis.strike(fault)) is not None:
                    history.blind.append(blind)
                history.faults.append(fault.describe())
            time.sleep(max(0.0, seconds - (time.monotonic() - start)))
        finally:
            stop.set()
            nemesis.heal_all()
        say(f"+{time.monotonic() - start:6.1f} s load stopped, every fault healed; settling")
        for t in loads:
            t.join(SETTLE_S)
        plain_results = outcomes(app, list(history.plain), SETTLE_S)
        back_from = time.monotonic()
        try:
            wait_for_workers(app, workers, 90)
            back_s: float | None = round(time.monotonic() - back_from, 1)
        except Exception:  # noqa: BLE001  (LocalClusterError: not all answered)
            back_s = None
        ids = list(history.plain) + [r["task_id"] for b in history.batches if b["document"]
                                     for r in b["document"]["results"]]
        run_lists = read_runs_until_back(app, ids)
        leftover = compose.redis("admin").zcard(layout.TAKERS)
        app.close()
        verdict = judge(history, plain_results, run_lists, back_s, faults)
        say(f"takers on record at the end: {leftover}")
        return verdict
    finally:
        for problem in compose.down():
            say(f"nemesis: {problem}")


def report(verdict: Verdict) -> list[str]:
    lines = [f"jobs           {verdict.jobs} ({verdict.plain_jobs} from a plain Celery client, "
             f"{verdict.producer_jobs} from the producer in {verdict.batches} batches"
             f"{f', {verdict.batches_refused} refused while Redis restarted' if verdict.batches_refused else ''})",
             f"succeeded      {verdict.succeeded}",
             f"lost           {verdict.lost}",
             f"failed         {verdict.failed}",
             f"extra runs     {verdict.extra_runs} (each on record in its job's run list)",
             "faults         " + ", ".join(f"{n} {k}" for k, n in sorted(verdict.faults.items())),
             "full strength  " + (f"again after {verdict.back_to_full_strength_s} s"
                                  if verdict.back_to_full_strength_s is not None else "NOT reached")]
    lines += [f"problem: {p}" for p in verdict.problems[:20]]
    lines.append("nemesis: every check holds" if verdict.ok else f"nemesis: {len(verdict.problems)} checks failed")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nemesis", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load and the faults last")
    parser.add_argument("--seed", type=int, default=1, help="the schedule's seed: the same seed, the same faults")
    parser.add_argument("--workers", type=int, default=4, help="worker containers")
    parser.add_argument("--json", type=Path, help="write the verdict here")
    args = parser.parse_args(argv)
    if not 0.5 <= args.minutes <= 120 or not 2 <= args.workers <= 16:
        parser.error("--minutes must be 0.5 to 120 and --workers 2 to 16")
    if why := docker_ready():
        print(f"nemesis: error: {why}", file=sys.stderr)
        return 2
    verdict = run(args.minutes, args.seed, args.workers, say=lambda line: print(line, flush=True))
    for line in report(verdict):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(asdict(verdict), indent=1) + "\n")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
