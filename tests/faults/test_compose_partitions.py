"""The faults a cluster beyond one machine meets, injected for real into compose containers: a
host cut off the network and healed, workers frozen with jobs on their way to them, a worker
whose main process dies and comes back under the same pid, one frozen worker while another dies,
and junk pushed onto the queue. Each test asserts: no job lost, no healthy job failed, every
extra run reported as the jobs' run lists tell it, and the cluster back to full strength by itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import redis
from celery import Celery

from tests.compose_cluster import compose_project
from tests.helpers import Background, Finished, run_producer, wait_for
from worker import layout, runs

pytestmark = [pytest.mark.faults, pytest.mark.docker]

WORKERS = 4
#: Issue #20: a vanished host's job starts elsewhere within this many seconds of the cut.
VANISHED_BOUND_S = 15
#: ... and a worker reconnected after the heal takes jobs again within this.
REJOIN_BOUND_S = 30


@pytest.fixture(scope="module")
def cluster():
    with compose_project(WORKERS=str(WORKERS)) as compose:
        compose("up", "-d", "--build", "--wait", timeout_s=600)
        yield compose


@pytest.fixture
def full(cluster):
    """Four healthy workers before the test, and again after it (a fault may have stopped one)."""
    cluster("up", "-d", "--wait", "--scale", f"worker={WORKERS}", timeout_s=300)
    results_client(cluster).flushdb()  # each test reads only its own jobs' run lists
    yield cluster
    for container in containers(cluster):
        docker("unpause", container, check=False)
    # A worker thawed or healed comes back by itself: healthy again with nobody restarting it
    # (`up --wait` would give up at once on one still marked unhealthy from its freeze).
    wait_for(lambda: all(health(c) in ("healthy", "exited") for c in containers(cluster)), 90,
             "every worker to be healthy again by itself", 1)
    cluster("up", "-d", "--wait", "--scale", f"worker={WORKERS}", timeout_s=300)


def health(container: str) -> str:
    state = docker("inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
                   container, check=False).stdout.split()
    return "exited" if not state or state[0] != "running" else state[-1]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=check)


def pause(*frozen: str, tries: int = 3) -> None:
    """`docker pause` these containers. On a busy machine runc's freezer may give up ("unable to
    freeze": a process it waits for is in the kernel): thaw what froze, and try again."""
    for _ in range(tries):
        paused = docker("pause", *frozen, check=False)
        if paused.returncode == 0:
            return
        docker("unpause", *frozen, check=False)
        time.sleep(1)
    pytest.fail(f"docker pause failed {tries} times: {paused.stderr.strip()}")


def containers(cluster) -> list[str]:
    return sorted(cluster("ps", "-q", "worker").stdout.split())


def hostname(container: str) -> str:
    return docker("inspect", "-f", "{{.Config.Hostname}}", container).stdout.strip()


def results_client(cluster) -> redis.Redis:
    """The owner's look at the results' database: the jobs' run lists (the test's FLUSHDB too)."""
    return cluster.redis("admin", db=1)


def running_on(cluster) -> dict[str, str]:
    """hostname -> task id of each job started and not finished, from the jobs' run lists."""
    client = results_client(cluster)
    found = {}
    for key in client.keys(f"{runs.PREFIX}*"):
        for run in runs.parse(client.lrange(key, 0, -1)):
            if run.finished_at is None and run.interrupted is None:
                found[run.worker.split("@", 1)[1]] = key.decode()[len(runs.PREFIX):]
    return found


def assert_counts_match_the_run_lists(cluster, run: Finished) -> None:
    """The summary's runs and duplicates are what Redis's run lists say."""
    results = run.document["results"]
    found = runs.read_runs(results_client(cluster), [r["task_id"] for r in results])
    assert run.document["summary"]["runs"] == sum(len(v) for v in found.values())
    assert run.document["summary"]["duplicates"] == sum(1 for v in found.values() if runs.duplicate_runs(v))
    for r in results:
        assert r.get("runs") == len(found[r["task_id"]])


def test_a_vanished_hosts_job_starts_elsewhere_within_seconds_and_the_host_rejoins(full):
    network = f"{full.project}_default"
    producer = Background("--jobs", "3", "--duration", "20", "--timeout", "120", "--json", env=full.host_env)
    busy = wait_for(lambda: (found := running_on(full)) and len(found) == 3 and found, 60, "three jobs to start", 0.2)
    victim = next(c for c in containers(full) if hostname(c) in busy)
    lost_job = busy[hostname(victim)]
    cut_at = datetime.now(UTC)
    docker("network", "disconnect", network, victim)
    try:
        def started_elsewhere():
            return any(r.worker != f"worker@{hostname(victim)}" and r.interrupted is None
                       for r in runs.read_runs(results_client(full), [lost_job])[lost_job])
        wait_for(started_elsewhere, VANISHED_BOUND_S + 10, "the cut-off host's job to start elsewhere", 0.2)
        time.sleep(max(0.0, 15 - (datetime.now(UTC) - cut_at).total_seconds()))  # cut off for 15 s in all
    finally:
        docker("network", "connect", network, victim)
    healed = time.monotonic()
    run = producer.finish(150)
    recovery = full("logs", "--no-color", "recovery", timeout_s=30).stdout
    assert run.returncode == 0, run.stderr + recovery[-3000:]
    results = {r["task_id"]: r for r in run.document["results"]}
    assert len(results) == 3 and all(r["status"] == "SUCCESS" for r in results.values()), results
    seen = runs.read_runs(results_client(full), [lost_job])[lost_job]
    elsewhere = [r for r in seen if r.worker != f"worker@{hostname(victim)}"]
    assert elsewhere and (elsewhere[0].started_at - cut_at).total_seconds() < VANISHED_BOUND_S, (seen, recovery)
    assert "fenced off" in recovery
    # The cut-off copy either ended unfinished (fenced, or cancelled when its worker noticed) or
    # ran to its end on the far side of the cut: then the job ran twice, and says so.
    (cut_off,) = [r for r in seen if r not in elsewhere]
    if cut_off.finished_at is not None:
        assert results[lost_job]["ran_twice"] and run.document["summary"]["duplicates"] == 1
    else:
        assert cut_off.interrupted is not None and run.document["summary"]["duplicates"] == 0
    assert_counts_match_the_run_lists(full, run)
    # The host is back: it answers and takes jobs again, with nobody restarting it.
    wait_for(lambda: f"worker@{hostname(victim)}" in run_producer("status", env=full.host_env).stdout,
             REJOIN_BOUND_S, "the healed worker to answer again", 1)
    assert time.monotonic() - healed < REJOIN_BOUND_S + 45  # (the batch above ran meanwhile)
    after = run_producer("--jobs", "8", "--duration", "1", "--json", env=full.host_env, timeout_s=120)
    assert after.returncode == 0, after.stderr
    assert hostname(victim) in {r["hostname"] for r in after.document["results"]}
    assert docker("inspect", "-f", "{{.RestartCount}}", victim).stdout.strip() == "0"  # no restart needed


#: The fenced-copy case's job and cut, in seconds: the issue's is 4 jobs of 30 s and a 40 s cut
#: (PARTITION_JOB_S=30 PARTITION_CUT_S=40, as its acceptance runs it); the suite's is half as long,
#: the same story: fenced within seconds, the cut-off copy ends while still cut off, then the heal.
JOB_S = float(os.environ.get("PARTITION_JOB_S", "15"))
CUT_S = float(os.environ.get("PARTITION_CUT_S", "20"))


def test_a_fenced_copy_that_runs_on_past_the_heal_is_never_the_jobs_outcome(full):
    # Four jobs on four workers, a busy worker cut off about 1 s into its job for longer than the
    # rest of it. Fenced, its job waits for a free worker and runs again; the cut-off copy
    # reaches its end while still cut off and writes it once the network is back.
    assert CUT_S > JOB_S > 8  # fenced (6 s of silence) before the copy ends, which ends before the heal
    network = f"{full.project}_default"
    producer = Background("--jobs", "4", "--duration", f"{JOB_S:g}", "--timeout", "180", "--json", env=full.host_env)
    busy = wait_for(lambda: (found := running_on(full)) and len(found) == 4 and found, 60, "four jobs to start", 0.2)
    time.sleep(1)
    victim = next(c for c in containers(full) if hostname(c) in busy)
    lost_job, node = busy[hostname(victim)], f"worker@{hostname(victim)}"
    docker("network", "disconnect", network, victim)
    try:
        time.sleep(CUT_S)
    finally:
        docker("network", "connect", network, victim)
    run = producer.finish(180)
    recovery = full("logs", "--no-color", "recovery", timeout_s=30).stdout
    assert run.returncode == 0, run.stderr + recovery[-3000:]
    results = {r["task_id"]: r for r in run.document["results"]}
    assert len(results) == 4 and all(r["status"] == "SUCCESS" for r in results.values()), results
    assert results[lost_job]["worker"] != node  # the live copy's outcome, never the fenced one's
    assert "fenced off" in recovery
    # The cut-off copy ran to its end before the batch did (its finish written when the network
    # came back, its outcome ignored: a duplicate, said), or it had not ended yet, or was cancelled
    # as its worker noticed: the summary says a fenced copy may still run.
    summary = run.document["summary"]
    (cut_off,) = [r for r in runs.read_runs(results_client(full), [lost_job])[lost_job] if r.worker == node]
    print(f"the cut-off copy: {'ran to its end, ignored' if cut_off.finished_at else 'not ended'}")  # for the note
    if cut_off.finished_at is not None:
        assert results[lost_job]["ran_twice"] and summary["duplicates"] == 1
        assert "before it finished" in full("logs", "--no-color", "worker", timeout_s=30).stdout
    else:
        assert cut_off.interrupted == runs.FENCED and summary["fenced_running"] == 1, summary
        assert any("fenced off" in note for note in summary["notes"])
    assert_counts_match_the_run_lists(full, run)


#: A plain Celery client, as any user's own app: kombu's stock transport, none of this project's code.
#: It is made and connected first, then sends its four jobs when told (a line on stdin), so they
#: reach Redis within milliseconds of the freeze, while the frozen workers' BLMOVEs are still open.
PLAIN_CLIENT = ("import sys\nfrom celery import Celery\n"
                "app = Celery(broker=sys.argv[1])\n"
                "app.connection_for_write().ensure_connection(max_retries=3)\n"
                "print('ready', flush=True)\n"
                "sys.stdin.readline()\n"
                "print(*(app.send_task(f'task{i % 2 + 1}', kwargs={'duration': 1.0}, queue='jobs').id\n"
                "        for i in range(4)))\n")


def blocked_workers(admin: redis.Redis) -> set[str]:
    """The nodes whose connection Redis holds blocked in a BLMOVE now (a frozen one stays so until
    its wait times out)."""
    return {c["name"].split(":", 1)[1].split("/", 1)[0] for c in admin.client_list()
            if c["name"].startswith("celery-worker:") and c["cmd"] == "blmove" and "b" in c["flags"]}


def freeze_and_send(cluster) -> tuple[list[str], dict[str, int], list[str]]:
    """Freeze the four idle workers (`docker pause`: their BLMOVE, up to 1 s, stays open at
    Redis) and send four jobs from a plain Celery client in another process. Returns the frozen
    containers (still frozen: the caller thaws them), how many jobs Redis moved into each one's
    hand-off list (none if every wait had timed out first), and the jobs' ids."""
    workers = containers(cluster)
    admin = cluster.redis("admin")
    # every one running and healthy first (one healed in the test before may still be restarting)
    wait_for(lambda: all(health(c) == "healthy" for c in workers), 90, "four healthy workers", 1)
    client = subprocess.Popen([sys.executable, "-c", PLAIN_CLIENT, cluster.url(0, "producer")], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert client.stdout.readline().strip() == "ready", client.stderr.read()
        pause(*workers)
        print(f"blocked in BLMOVE as the jobs were sent: {sorted(blocked_workers(admin))}")  # for the note
        out, err = client.communicate("go\n", timeout=60)
        assert client.returncode == 0, err
        time.sleep(0.5)
        taken = {c: admin.llen(layout.hand_off_key(f"worker@{hostname(c)}")) for c in workers}
    except BaseException:
        docker("unpause", *workers, check=False)
        raise
    finally:
        client.kill()
    return workers, taken, out.split()


def signal_frozen(container: str, sig: signal.Signals, everyone: bool) -> None:
    """Send `sig` from the host to the frozen container's first process (as `docker stop` and a
    scale-down do: it passes it on to celery), or to every process of it. It is taken as they
    thaw, before they run a line more."""
    pids = docker("top", container, "-o", "pid").stdout.split()[1:]
    for pid in pids if everyone else pids[:1]:
        os.kill(int(pid), sig)


def freeze_send_kill_thaw(cluster) -> tuple[str | None, list[str]]:
    """Freeze four idle workers and send them four jobs (`freeze_and_send`), kill one frozen worker
    whose hand-off list holds a job, thaw the others. Returns the killed container (None if no
    list held a job) and the jobs' ids."""
    workers, taken, ids = freeze_and_send(cluster)
    victim = next((c for c, count in taken.items() if count), None)
    try:
        if victim is not None:
            # Every process of it killed while frozen. (`docker kill` alone signals only the first
            # one and thaws them: the worker, killed only as that one exits, could still claim its job.)
            signal_frozen(victim, signal.SIGKILL, everyone=True)
            docker("kill", victim)
    finally:
        docker("unpause", *[c for c in workers if c != victim], check=False)
    return victim, ids


def until_one_was_on_its_way(cluster, app: Celery, strike) -> tuple[str, list[dict]]:
    """`strike(cluster)` (freeze the workers, send four jobs, strike a frozen one whose hand-off list
    holds a job, thaw: returns that container, or None, and the jobs' ids) until a job was on its
    way to a frozen worker, a matter of milliseconds; each time every job ran, once. Returns the
    container struck and the jobs' records."""
    for _ in range(8):
        victim, ids = strike(cluster)
        results = [app.AsyncResult(task_id).get(timeout=90) for task_id in ids]
        found = runs.read_runs(results_client(cluster), ids)
        # each ran to its end once; a claim its worker put back as it stopped is marked so, no death
        assert all(sum(r.finished_at is not None for r in found[t]) == 1 for t in ids), found
        assert all(r.interrupted == runs.PUT_BACK for t in ids for r in found[t] if r.finished_at is None), found
        if victim is not None:
            return victim, results
        wait_for(lambda: all(health(c) == "healthy" for c in containers(cluster)), 90, "the thawed workers", 1)
    pytest.fail("in eight tries no job was on its way to a frozen worker")


def test_jobs_from_a_plain_client_on_their_way_to_frozen_workers_are_not_lost(full):
    app = Celery(backend=full.url(1, "producer"))
    victim, results = until_one_was_on_its_way(full, app, freeze_send_kill_thaw)
    assert hostname(victim) not in {r["hostname"] for r in results}  # killed while frozen: ran none
    assert full.redis("admin").llen(layout.hand_off_key(f"worker@{hostname(victim)}")) == 0
    logs = full("logs", "--no-color", "recovery", timeout_s=30).stdout
    assert f"worker@{hostname(victim)} " in logs and "on its way to it back in the queue" in logs, logs[-2000:]
    app.close()


def test_a_worker_stopped_with_a_job_in_its_socket_loses_it_not(full):
    # A scale-down or `docker stop`: SIGTERM reaches a worker whose BLMOVE Redis has just answered,
    # the job in its socket. It takes it and finishes it in its warm shutdown, or puts it back as
    # its channel closes; either way the job runs, once, and the worker exits cleanly.
    app = Celery(backend=full.url(1, "producer"))
    stopped: list[str] = []

    def freeze_send_stop_thaw(cluster) -> tuple[str | None, list[str]]:
        workers, taken, ids = freeze_and_send(cluster)
        victim = next((c for c, count in taken.items() if count), None)
        try:
            if victim is not None:
                # As `docker stop` would leave it: exited, its exit code kept (a signal is no manual
                # stop, so the restart policy would start it again and the code be gone).
                docker("update", "--restart=no", victim)
                stopped.append(victim)
                signal_frozen(victim, signal.SIGTERM, everyone=False)
        finally:
            docker("unpause", *workers, check=False)
        return victim, ids

    try:
        victim, results = until_one_was_on_its_way(full, app, freeze_send_stop_thaw)
        state = wait_for(lambda: exited(victim), 60, "the stopped worker to exit", 0.5,
                         on_timeout=lambda: stuck(victim))
        assert state == "0", state  # a warm shutdown
        assert full.redis("admin").llen(layout.hand_off_key(f"worker@{hostname(victim)}")) == 0
        ran_there = hostname(victim) in {r["hostname"] for r in results}
        print("the stopped worker's job:", "finished by it as it shut down" if ran_there else "put back, run elsewhere")
    finally:
        for container in stopped:  # the module's next tests want their four workers
            docker("update", "--restart=unless-stopped", container, check=False)
            docker("start", container, check=False)
        app.close()


def exited(container: str) -> str | None:
    """The exit code of `container` once it has exited, else None."""
    status, code = docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", container).stdout.split()
    return code if status == "exited" else None


def stuck(container: str) -> str:
    """What a worker that does not exit is doing: Celery's own dump of its threads' stacks (SIGUSR1)."""
    docker("kill", "--signal", "USR1", container, check=False)
    time.sleep(1)
    logs = docker("logs", "--tail", "120", container, check=False)
    return (logs.stdout + logs.stderr)[-6000:]


def test_a_worker_whose_main_process_dies_and_returns_under_the_same_pid_loses_no_time(full):
    producer = Background("--jobs", "3", "--duration", "12", "--timeout", "120", "--json", env=full.host_env)
    busy = wait_for(lambda: (found := running_on(full)) and len(found) == 3 and found, 60, "three jobs to start", 0.2)
    victim = next(c for c in containers(full) if hostname(c) in busy)
    lost_job = busy[hostname(victim)]
    top = docker("top", victim, "-o", "pid,ppid,args").stdout.splitlines()[1:]
    tini = next(line.split()[0] for line in top if "tini" in line or "docker-init" in line)
    main = next(line.split()[0] for line in top if line.split()[1] == tini)
    killed_at = datetime.now(UTC)
    subprocess.run(["kill", "-9", main], check=True, timeout=10)
    run = producer.finish(150)
    recovery = full("logs", "--no-color", "recovery", timeout_s=30).stdout
    assert run.returncode == 0, run.stderr + recovery[-3000:]
    results = {r["task_id"]: r for r in run.document["results"]}
    assert all(r["status"] == "SUCCESS" for r in results.values()), results
    again = results[lost_job]
    # before: the worker came back under the same name and pid and its job waited for the 60 s sweep
    assert (datetime.fromisoformat(again["started_at"]) - killed_at).total_seconds() < VANISHED_BOUND_S, recovery
    assert_counts_match_the_run_lists(full, run)
    wait_for(lambda: docker("inspect", "-f", "{{.State.Health.Status}}", victim).stdout.strip() == "healthy",
             60, "the restarted worker to be healthy", 1)  # back by its restart policy, nobody's hand


def test_one_frozen_worker_does_not_hold_back_a_dead_workers_jobs(full):
    frozen, *others = containers(full)
    pause(frozen)
    producer = Background("--jobs", "2", "--duration", "20", "--timeout", "120", "--json", env=full.host_env)
    busy = wait_for(lambda: (found := running_on(full)) and len(found) == 2 and found, 60, "two jobs to start", 0.2)
    victim = next(c for c in others if hostname(c) in busy)
    lost_job = busy[hostname(victim)]
    full("restart", "recovery", timeout_s=60)  # a service that starts now must catch up from Redis alone
    killed_at = datetime.now(UTC)
    docker("kill", victim)
    run = producer.finish(150)
    recovery = full("logs", "--no-color", "recovery", timeout_s=30).stdout
    assert run.returncode == 0, run.stderr + recovery[-3000:]
    results = {r["task_id"]: r for r in run.document["results"]}
    assert all(r["status"] == "SUCCESS" for r in results.values()), results
    started = datetime.fromisoformat(results[lost_job]["started_at"])
    assert (started - killed_at).total_seconds() < 30, recovery  # was 103 s: every worker's answer awaited


def test_junk_on_the_queue_is_set_aside_and_no_worker_restarts(full):
    client = full.redis("producer")  # junk from anyone allowed to submit
    restarts = {c: docker("inspect", "-f", "{{.RestartCount}}", c).stdout.strip() for c in containers(full)}
    junk = [bytes(range(i, i + 40)) for i in range(20)] + [b"{}", b'{"not": "a message"}']
    client.lpush("jobs", *junk)
    wait_for(lambda: client.llen("jobs.dead") == len(junk), 30, "the junk to be set aside", 0.2)
    run = run_producer("--jobs", "4", "--duration", "0.5", "--json", env=full.host_env, timeout_s=120)
    assert run.returncode == 0, run.stderr
    assert all(r["status"] == "SUCCESS" for r in run.document["results"])
    assert {c: docker("inspect", "-f", "{{.RestartCount}}", c).stdout.strip() for c in containers(full)} == restarts
    status = run_producer("status", env=full.host_env)
    assert f"{len(junk)} set aside as not a job (jobs.dead)" in status.stdout
