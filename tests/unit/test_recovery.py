"""Recovery without I/O: the run log's rules (worker.runs), who is gone and which messages go back
(recovery.service), what the events say a worker holds (cluster.events), and how a job that ran
twice is reported."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

from cluster.events import snapshot
from producer.figures import summarize
from producer.inflight import due, nowhere, unacked_task_ids
from producer.views.report import job_line, summary_lines
from recovery.service import (
    SWEEP_EVERY_S,
    SWEEP_RETRY_S,
    Connection,
    Loss,
    Recovery,
    Unacked,
    action_line,
    held_in,
    judge,
    orphans,
    parse_unacked,
    silent_losses,
    to_restore,
    vanished,
    worker_connections,
)
from settings import current
from tests.unit.builders import EVENTS_T0 as T0
from tests.unit.builders import Cluster, at, outcome, record
from worker import layout
from worker.config import WORKER_CLIENT_PREFIX
from worker.health import client_name
from worker.runs import FENCED, Run, duplicate_runs, entry, interruption, never_finished, parse


def run(worker: str, start: float, end: float | None = None, attempt: int = 1, pid: int = 8) -> Run:
    return Run(worker, pid, attempt, at(start), at(end) if end is not None else None)


# --- worker.runs --------------------------------------------------------------------------

def test_entries_parse_into_runs_matched_by_worker_pid_and_start():
    a, b = run("w@a", 0), run("w@b", 5)
    entries = [entry("started", a.worker, a.pid, 1, a.started_at, a.started_at),
               entry("started", b.worker, b.pid, 1, b.started_at, b.started_at),
               entry("finished", b.worker, b.pid, 1, b.started_at, at(6)), b"not json", json.dumps({"event": "x"})]
    assert parse(entries) == [a, replace(b, finished_at=at(6))]


def test_a_run_that_never_finished_counts_as_a_death_of_that_attempt_only():
    runs = [run("w@a", 0), run("w@b", 5), run("w@c", 9, 10), run("w@d", 11, attempt=2)]
    assert never_finished(runs, 1) == runs[:2]
    assert never_finished(runs, 2) == [runs[3]]


def test_an_interruption_ends_the_runs_of_that_worker_or_the_one_it_names_recorded_before_it():
    cut, other_run, later, finished = run("w@a", 0), run("w@a", 1, pid=9), run("w@a", 5), run("w@a", 2, 3)
    entries = [entry("started", r.worker, r.pid, 1, r.started_at, r.started_at) for r in (cut, other_run)]
    entries += [entry("finished", "w@a", 8, 1, at(2), at(3)), interruption("w@a", at(0), "fenced", at(4))]
    # recorded after it (whatever its clock says): not cut off by it
    entries += [entry("started", "w@a", 8, 1, later.started_at, later.started_at)]
    runs = parse(entries)
    assert runs == [replace(cut, interrupted="fenced", interrupted_at=at(4)), other_run,
                    replace(finished, interrupted=None), later]
    assert never_finished(runs, 1) == [other_run, later]  # an interrupted run is not a death
    assert parse([*entries, interruption("w@a", None, "lost Redis", at(9))])[1].interrupted == "lost Redis"
    assert parse([*entries, interruption("w@b", None, "x", at(9))])[1].interrupted is None


def test_an_interrupted_run_that_finished_after_all_is_finished_and_a_duplicate_of_the_next():
    a = run("w@a", 0)
    entries = [entry("started", "w@a", 8, 1, a.started_at, a.started_at), interruption("w@a", None, "fenced", at(1)),
               entry("started", "w@b", 8, 1, at(2), at(2)), entry("finished", "w@b", 8, 1, at(2), at(3)),
               entry("finished", "w@a", 8, 1, a.started_at, at(4))]
    runs = parse(entries)
    assert runs[0].finished_at == at(4) and runs[0].interrupted is None
    assert len(duplicate_runs(runs)) == 2


def test_a_redelivery_after_a_death_is_not_a_duplicate():
    assert duplicate_runs([run("w@dead", 0), run("w@b", 6, 7)]) == []


def test_two_finished_runs_of_one_attempt_are_a_duplicate():
    first, second = run("w@a", 0, 7), run("w@b", 2, 9)
    assert duplicate_runs([second, first]) == [first, second]


def test_a_run_started_beside_a_finished_one_is_a_duplicate_even_before_it_ends():
    kept, beside = run("w@a", 0, 7), run("w@b", 2)  # the visibility-timeout trap: still running
    assert duplicate_runs([kept, beside]) == [kept, beside]


def test_retries_are_separate_attempts_not_duplicates():
    assert duplicate_runs([run("w@a", 0, 1), run("w@a", 2, 3, attempt=2)]) == []


def test_a_duplicate_is_described_with_where_and_when():
    assert run("w@a", 1.25, 2).describe() == "w@a pid 8 at 19:00:01.2"
    assert run("w@a", 1.25).describe().endswith(", never finished")


# --- cluster.events: who holds what ----------------------------------------------------

def held_by(snap, node: str) -> list:
    """What the events say `node` received last and has not finished with (the story's holder)."""
    return [t for t in snap.tasks if t.holder is not None and t.holder.node == node and not t.holder.settled]


def test_a_worker_holds_what_it_received_until_it_ends_it_running_or_waiting():
    c = Cluster()
    c.heartbeat("w1@h", 0, pid=11)
    c.runs("running", "w1@h", 0.5, pid=11)
    c.event("task-received", 0.6, "w1@h", uuid="reserved", name="task1", pid=11)
    c.runs("done", "w1@h", 0.1, 0.4, pid=11)
    held = held_by(snapshot(c.state, T0 + 1), "w1@h")
    assert sorted(t.id for t in held) == ["reserved", "running"]
    assert {t.holder.pid for t in held} == {11}


def test_a_job_received_elsewhere_since_is_no_longer_held_by_the_first_worker():
    c = Cluster()
    c.runs("job", "w1@h", 0.5)
    c.event("task-received", 8.0, "w2@h", uuid="job", name="task1", pid=22)
    snap = snapshot(c.state, T0 + 9)
    assert held_by(snap, "w1@h") == [] and [t.id for t in held_by(snap, "w2@h")] == ["job"]


# --- recovery.service -------------------------------------------------------------------

def message(task_id: str, task: str = "task1", properties: dict | None = None) -> str:
    return json.dumps([{"body": "...", "headers": {"id": task_id, "task": task}, "properties": properties or {}},
                       "", "jobs"])


def held(task_id: str, node: str, pid: int, delivered: float) -> Unacked:
    """An `unacked` entry a worker's claim wrote: it names the worker process."""
    return Unacked(f"tag-{task_id}", task_id, "task1", delivered, (node, pid))


def test_kombus_unacked_hash_is_read_by_task_id_with_its_delivery_time_and_the_holder_its_claim_named():
    claimed = {layout.CLAIMED_BY: ["w@h", 7, 100.0]}
    found = parse_unacked({b"tag-1": message("a"), b"tag-2": "garbage", "tag-3": message("b", "task2"),
                           b"tag-4": message("c", properties=claimed), b"tag-5": message("d", properties=claimed)},
                          {b"tag-1": 100.0, b"tag-4": 100.0, b"tag-5": 130.0})
    assert found == {"a": Unacked("tag-1", "a", "task1", 100.0), "b": Unacked("tag-3", "b", "task2", None),
                     "c": Unacked("tag-4", "c", "task1", 100.0, ("w@h", 7)),
                     "d": Unacked("tag-5", "d", "task1", 130.0)}  # taken again since, by plain BRPOP: no holder


def test_worker_connections_are_known_by_the_name_the_worker_gives_them():
    clients = [{"name": client_name("w1@h", 11)}, {"name": ""}, {"name": f"{WORKER_CLIENT_PREFIX}bad"},
               {"name": "someone-else"}]
    assert [(c.node, c.pid) for c in worker_connections(clients)] == [("w1@h", 11)]


def silent_cluster() -> Cluster:
    c = Cluster()
    c.heartbeat("dead@h", 0, pid=11)
    c.heartbeat("busy@h", 0, pid=12)
    c.runs("lost", "dead@h", 0.5, pid=11)
    c.runs("blocked", "busy@h", 0.5, pid=12)
    c.heartbeat("alive@h", 9.5, pid=13)
    c.runs("fine", "alive@h", 9.5, pid=13)
    return c


def test_only_a_silent_worker_whose_connections_closed_is_gone():
    snap = snapshot(silent_cluster().state, T0 + 10)
    gone, waiting = silent_losses(snap, T0 + 10, 6.0, connected={"busy@h", "alive@h"}, handled={})
    # its last sign of life is its task-started at 0.5 s (Celery's State counts task events as heartbeats)
    assert gone == [Loss("dead@h", "silent for 9.5 s")] and waiting == ["busy@h"]


def test_a_worker_already_acted_on_is_left_until_it_heartbeats_again():
    snap = snapshot(silent_cluster().state, T0 + 10)
    handled = {"dead@h": snap.worker("dead@h").last_heartbeat}
    gone, _ = silent_losses(snap, T0 + 10, 6.0, connected=set(), handled=handled)
    assert gone == [Loss("busy@h", "silent for 9.5 s")]


def test_no_worker_is_gone_before_the_silence_is_long_enough():
    snap = snapshot(silent_cluster().state, T0 + 5)
    assert silent_losses(snap, T0 + 5, 6.0, connected=set(), handled={}) == ([], [])


def test_only_the_unacknowledged_jobs_the_dead_worker_claimed_go_back_oldest_first():
    unacked = {"lost": held("lost", "dead@h", 11, 2.0), "lost-first": held("lost-first", "dead@h", 11, 1.0),
               "blocked": held("blocked", "busy@h", 12, 1.0), "plain": Unacked("tag-plain", "plain", "task1", 1.0)}
    assert to_restore(Loss("dead@h", "silent"), unacked) == [unacked["lost-first"], unacked["lost"]]
    assert to_restore(Loss("dead@h", "silent"), {}) == []  # it finished and was acknowledged


def test_a_restarted_worker_loses_only_what_its_previous_process_held():
    unacked = {"old": held("old", "w@h", 5, 0.5), "new": held("new", "w@h", 6, 3.5)}
    assert to_restore(Loss("w@h", "restarted", pid=5), unacked) == [unacked["old"]]


def test_catch_up_restores_only_old_messages_no_one_holds():
    unacked = {"held": Unacked("t1", "held", "task1", 100.0), "orphan": Unacked("t2", "orphan", "task1", 100.0),
               "just-taken": Unacked("t3", "just-taken", "task1", 109.0)}
    assert orphans(unacked, {"held"}, now=110.0, min_age_s=6.0) == [unacked["orphan"]]


def test_inspect_answers_name_the_jobs_a_worker_holds_in_any_list():
    answers = {"w1@h": [{"id": "running"}], "w2@h": [{"request": {"id": "scheduled"}}], "w3@h": []}
    assert held_in(answers) == {"running", "scheduled"}


class FakeInspect:
    """Celery's inspect, answering from `lists` (node -> list name -> jobs); a node left out stays silent."""

    def __init__(self, lists: dict[str, dict[str, list]]) -> None:
        self.lists, self.asked = lists, []

    def __getattr__(self, name: str):
        def ask():
            self.asked.append(name)
            return {node: held.get(name, []) for node, held in self.lists.items()}
        return ask


class SweepingRecovery(Recovery):
    """The service with its broker calls replaced: what Redis and the workers would say."""

    def __init__(self, snap_cluster: Cluster, unacked: dict[str, Unacked], answers: dict[str, dict[str, list]],
                 connected: set[tuple[str, int]]) -> None:
        self.inspector = FakeInspect(answers)
        super().__init__(SimpleNamespace(control=SimpleNamespace(inspect=lambda **_: self.inspector)))
        self.events.state = snap_cluster.state
        self.events.connected, self.events.connections = True, 1
        self._connections_seen = 1
        self.unacked, self.workers, self.restored = unacked, connected, []
        self.idle: dict[str, float] = {}  # node -> seconds its connections have been idle
        self.fenced_ids: list[str] = []
        self.interrupted: list[tuple[str, str]] = []
        self.reads = 0
        self.taken: dict[str, int] = {}  # node -> jobs in its hand-off list
        self.put_back: list[str] = []

    def connections(self):
        return [Connection(node, pid, f"id-{node}", self.idle.get(node, 0.0)) for node, pid in sorted(self.workers)]

    def fence(self, connections):
        self.fenced_ids.extend(c.id for c in connections)

    def interrupt(self, task_ids, fenced):
        self.interrupted.extend((t, n) for t in task_ids for n in sorted(fenced))

    def read_unacked(self):
        self.reads += 1
        return dict(self.unacked)

    def restore(self, messages):  # as kombu's restore_by_tag: out of the unacked hash, into the queue
        self.restored.extend(messages)
        for m in messages:
            self.unacked.pop(m.task_id, None)
        return messages

    def _finished(self, task_id):
        return False

    def takers(self):
        return sorted(self.taken)

    def put_back_taken(self, node, forget=False):  # as worker.layout.put_back_taken: the hand-off list emptied
        self.put_back.append(node)
        return self.taken.pop(node, 0)


def redis_restarted() -> Cluster:
    """Two live workers whose running jobs were cancelled when Redis went away; w2 has taken a new one."""
    c = Cluster()
    for node, pid in (("w1@h", 11), ("w2@h", 12)):
        c.heartbeat(node, 0, pid=pid)
        c.runs(f"cancelled-{node}", node, 0.5, pid=pid)
        c.heartbeat(node, 19, pid=pid)
    c.runs("new", "w2@h", 12.0, pid=12)
    return c


def test_after_a_redis_restart_the_jobs_live_workers_cancelled_go_back_and_theirs_stay(caplog):
    unacked = {t: held(t, node, pid, T0 + d) for t, node, pid, d in
               (("cancelled-w1@h", "w1@h", 11, 0.5), ("cancelled-w2@h", "w2@h", 12, 0.5), ("new", "w2@h", 12, 12.0))}
    service = SweepingRecovery(redis_restarted(), unacked, {"w1@h": {}, "w2@h": {"active": [{"id": "new"}]}},
                               {("w1@h", 11), ("w2@h", 12)})
    service.sweep_at = T0 + 20
    with caplog.at_level("INFO", logger="recovery"):
        service.tick(T0 + 20)
    assert sorted(u.task_id for u in service.restored) == ["cancelled-w1@h", "cancelled-w2@h"]
    assert service.inspector.asked == ["scheduled", "reserved", "active"]  # a job's own order: none slips between
    assert [r.getMessage() for r in caplog.records] == [
        "catch-up: unacknowledged, held by no live worker: 2 jobs back in the queue (task1 canc…, task1 canc…)"]
    assert service.sweep_at == T0 + 20 + SWEEP_EVERY_S


def test_a_worker_that_does_not_answer_holds_back_only_its_own_jobs_and_is_asked_again_soon(caplog):
    unacked = {t: held(t, node, pid, T0 + 0.5) for t, node, pid in
               (("cancelled-w1@h", "w1@h", 11), ("cancelled-w2@h", "w2@h", 12))}
    service = SweepingRecovery(redis_restarted(), unacked, {"w2@h": {}}, {("w1@h", 11), ("w2@h", 12)})
    service.sweep_at = T0 + 20
    with caplog.at_level("INFO", logger="recovery"):
        service.tick(T0 + 20)
        service.tick(T0 + 20 + SWEEP_RETRY_S)
    # w2 answered: the job it held and no longer holds goes back at once; w1's waits for w1
    assert [u.task_id for u in service.restored] == ["cancelled-w2@h"]
    assert service.sweep_at == T0 + 20 + 3 * SWEEP_RETRY_S  # 3 s, then 6 s later
    assert [r.getMessage() for r in caplog.records] == [
        "catch-up: w1@h did not answer; only the jobs it may hold wait (asking again in 3 s)",
        "catch-up: unacknowledged, held by no live worker: 1 job back in the queue (task1 canc…)"]
    service.inspector.lists["w1@h"] = {}  # it answers now
    service.tick(T0 + 20 + 3 * SWEEP_RETRY_S)
    assert [u.task_id for u in service.restored] == ["cancelled-w2@h", "cancelled-w1@h"]
    assert service.sweep_at == T0 + 20 + 3 * SWEEP_RETRY_S + SWEEP_EVERY_S


def test_a_job_whose_entry_names_no_holder_waits_while_any_worker_does_not_answer():
    unacked = {"unknown": Unacked("tag", "unknown", "task1", T0 + 0.5)}  # taken with kombu's plain BRPOP
    service = SweepingRecovery(redis_restarted(), unacked, {"w2@h": {}}, {("w1@h", 11), ("w2@h", 12)})
    service.sweep_at = T0 + 20
    service.tick(T0 + 20)
    assert service.restored == []
    service.inspector.lists["w1@h"] = {}
    service.tick(T0 + 20 + SWEEP_RETRY_S)
    assert [u.task_id for u in service.restored] == ["unknown"]


def test_a_connected_worker_silent_on_every_connection_is_fenced_and_its_jobs_go_back(caplog):
    c = redis_restarted()  # w1 and w2 heartbeat at +19; w2 runs "new"
    unacked = {"new": held("new", "w2@h", 12, T0 + 12.0)}
    service = SweepingRecovery(c, unacked, {"w1@h": {}}, {("w1@h", 11), ("w2@h", 12)})
    service.idle = {"w2@h": 7.0, "w1@h": 0.5}
    now = T0 + 19 + current().recovery_silence + 1
    with caplog.at_level("INFO", logger="recovery"):
        service.tick(now)
    assert service.fenced_ids == ["id-w2@h"]  # w1's connection is busy: left alone
    assert [u.task_id for u in service.restored] == ["new"]
    assert service.interrupted == [("new", "w2@h")]  # its run was cut off, not a death
    assert [r.getMessage() for r in caplog.records] == [
        "w1@h silent for more than 6 s but still connected to Redis and busy on it: its jobs are left alone",
        "w2@h silent, its 1 connections idle for 7 s (host cut off or frozen): fenced off: "
        "1 job back in the queue (task1 new…)"]
    service.tick(now + 1)  # acted on once: not fenced again while it stays silent
    assert service.fenced_ids == ["id-w2@h"] and len(service.restored) == 1


def test_a_fenced_worker_gives_back_the_jobs_on_their_way_to_it_too(caplog):
    c = redis_restarted()
    service = SweepingRecovery(c, {}, {"w1@h": {}}, {("w1@h", 11), ("w2@h", 12)})
    service.idle = {"w2@h": 7.0, "w1@h": 0.5}
    service.taken = {"w2@h": 2, "w1@h": 1}  # w1 is alive: what it took it claims in a moment
    with caplog.at_level("INFO", logger="recovery"):
        service.tick(T0 + 19 + current().recovery_silence + 1)
    assert service.fenced_ids == ["id-w2@h"] and service.taken == {"w1@h": 1}
    assert caplog.records[-1].getMessage() == (
        "w2@h silent, its 1 connections idle for 7 s (host cut off or frozen): fenced off: "
        "2 jobs on its way to it back in the queue")


def test_the_sweep_gives_back_what_workers_with_no_connection_had_taken_and_forgets_them(caplog):
    service = SweepingRecovery(redis_restarted(), {}, {"w1@h": {}, "w2@h": {}}, {("w1@h", 11), ("w2@h", 12)})
    service.taken = {"w1@h": 1, "never-heard-of@h": 1, "long-gone@h": 0}
    service.sweep_at = T0 + 20
    with caplog.at_level("INFO", logger="recovery"):
        service.tick(T0 + 20)
    assert service.taken == {"w1@h": 1}  # connected: left to claim it
    assert sorted(service.put_back) == ["long-gone@h", "never-heard-of@h"]
    assert [r.getMessage() for r in caplog.records] == [
        "never-heard-of@h has no connection open: 1 job on its way to it back in the queue"]


def test_a_vanished_worker_is_fenced_once_not_also_gone_and_one_still_connected_is_left_alone():
    snap = snapshot(silent_cluster().state, T0 + 10)  # dead@h and busy@h silent since +0.5; alive@h heard at +9.5
    clients = [Connection("busy@h", 12, "1", 8.0), Connection("alive@h", 13, "2", 0.1)]  # busy: idle on every one
    verdict = judge(snap, T0 + 10, 6.0, clients, [], handled={})
    assert list(verdict.fence) == ["busy@h"] and verdict.waiting == set() and verdict.again == []
    assert [(loss.node, loss.fenced) for loss in verdict.losses] == [("busy@h", True), ("dead@h", False)]
    clients[0] = Connection("busy@h", 12, "1", 0.2)  # its loop blocked by a job, its pulse still PINGs
    verdict = judge(snap, T0 + 10, 6.0, clients, [], handled={})
    assert verdict.fence == {} and verdict.waiting == {"busy@h"} and [g.node for g in verdict.losses] == ["dead@h"]


def test_a_restart_whose_earlier_process_is_still_connected_is_looked_at_again_not_judged():
    snap = snapshot(silent_cluster().state, T0 + 1)
    still, gone = Loss("w@h", "restarted", pid=5), Loss("v@h", "restarted", pid=7)
    verdict = judge(snap, T0 + 1, 6.0, [Connection("w@h", 5, "1", 0.0)], [still, gone], handled={})
    assert verdict.again == [still] and verdict.losses == [gone]
    assert judge(snap, T0 + 1, 6.0, None, [still], handled={}).losses == [still]  # CLIENT LIST refused: no way to tell


def test_without_client_list_silence_alone_decides_and_nobody_is_fenced():
    snap = snapshot(silent_cluster().state, T0 + 10)
    verdict = judge(snap, T0 + 10, 6.0, None, [], handled={})
    assert verdict.fence == {} and sorted(g.node for g in verdict.losses) == ["busy@h", "dead@h"]


def test_a_subscribed_connection_does_not_keep_a_vanished_worker_alive():
    snap = snapshot(redis_restarted().state, T0 + 30)
    conns = [Connection("w2@h", 12, "1", 0.0, pubsub=True), Connection("w2@h", 12, "2", 9.0),
             Connection("w1@h", 11, "3", 0.0, pubsub=True)]
    assert sorted(vanished(conns, snap, T0 + 30, 6.0, {})) == ["w1@h", "w2@h"]  # w1: its subscription alone is left
    assert vanished([*conns, Connection("w1@h", 11, "4", 5.0)], snap, T0 + 30, 6.0, {}).keys() == {"w2@h"}
    assert vanished(conns, snap, T0 + 24, 6.0, {}) == {}  # heard from 5 s ago: not silent yet


def test_a_silent_worker_whose_connection_is_busy_is_not_fenced():
    service = SweepingRecovery(redis_restarted(), {}, {}, {("w1@h", 11), ("w2@h", 12)})
    service.idle = {"w2@h": current().recovery_silence - 1}
    service.tick(T0 + 19 + current().recovery_silence + 1)
    assert service.fenced_ids == [] and service.waiting == {"w1@h", "w2@h"}


def test_a_worker_online_again_under_the_same_pid_gives_back_what_it_held_before():
    c = redis_restarted()  # w2 received "new" at +12
    unacked = {"new": held("new", "w2@h", 12, T0 + 12.0)}
    service = SweepingRecovery(c, unacked, {"w1@h": {}, "w2@h": {}}, {("w1@h", 11), ("w2@h", 12)})
    service._on_event({"type": "worker-heartbeat", "hostname": "w2@h", "pid": 12, "timestamp": T0 + 19})
    service._on_event({"type": "worker-online", "hostname": "w2@h", "pid": 12, "timestamp": T0 + 20})
    service.tick(T0 + 20.5)
    assert [u.task_id for u in service.restored] == ["new"] and service.fenced_ids == []
    assert service.interrupted == []  # a restart is a death of what it ran


def test_a_worker_online_for_the_first_time_is_not_a_restart():
    service = SweepingRecovery(redis_restarted(), {}, {}, set())
    service._on_event({"type": "worker-online", "hostname": "w3@h", "pid": 5, "timestamp": T0})
    assert service.restarts == []


def test_each_action_is_one_line():
    line = action_line("worker@ab12", "silent for 6.1 s", [Unacked("t", "4f1c0000-aaaa", "task1")])
    assert line == "worker@ab12 silent for 6.1 s: 1 job back in the queue (task1 4f1c…)"
    assert action_line("w@h", "left", [Unacked("t", "4f1c0000-aaaa", "task1")], taken=1) == (
        "w@h left: 1 job back in the queue (task1 4f1c…); 1 job on its way to it back in the queue")
    assert action_line("w@h", "left", []) == "w@h left: none of its jobs left unacknowledged"


# --- the producer's report of a job that ran twice ------------------------------------------

def test_a_job_that_ran_twice_is_said_and_counted():
    rec = record(0, 7, worker="w@a")
    twice = replace(outcome(rec), ran_twice=(run("w@a", 0, 7), run("w@b", 2, 9, pid=9)))
    line = job_line(twice)
    assert line.endswith("\n  ran 2 times: w@a pid 8 at 19:00:00.0, w@b pid 9 at 19:00:02.0")
    summary = summarize([twice, outcome(record(0, 1, task_id="other"))], wall_s=9.0)
    assert summary.duplicates == 1 and any("ran more than once" in n for n in summary.notes)
    assert "duplicates" in [line.split()[0] for line in summary_lines(summary)]
    assert twice.as_json()["ran_twice"][1] == {"worker": "w@b", "pid": 9, "attempt": 1,
                                               "started_at": "2026-11-24T19:00:02.000000+00:00",
                                               "finished_at": "2026-11-24T19:00:09.000000+00:00"}


def test_a_fenced_copy_not_ended_when_the_batch_did_is_counted_and_said():
    live = replace(outcome(record(0, 7, worker="w@b")),
                   runs=(replace(run("w@a", 0, 7), finished_at=None, interrupted=FENCED), run("w@b", 1, 8)))
    cut_short = replace(run("w@a", 0, 7), finished_at=None, interrupted="cancelled: its worker lost Redis")
    cancelled = replace(outcome(record(0, 7, task_id="c")), runs=(cut_short,))
    summary = summarize([live, cancelled], wall_s=9.0)
    assert summary.fenced_running == 1  # a cancelled run ended: not counted
    assert any(n.startswith("1 copies of jobs fenced off") for n in summary.notes)
    assert summarize([outcome(record(0, 7))], wall_s=9.0).fenced_running == 0


# --- the producer's look for jobs lost in flight (producer.inflight) ---------------------------

def test_a_job_in_no_queue_and_not_unacked_is_nowhere_and_due_after_the_grace():
    jobs = [outcome(None, task_id=t) for t in ("queued", "held", "lost")]
    unacked = unacked_task_ids([json.dumps([{"headers": {"id": "held"}}, "", "jobs"]), b"junk", "[]"])
    assert unacked == {"held"}
    assert [o.task_id for o in nowhere(jobs, {"queued"}, unacked)] == ["lost"]
    assert due({"lost": 100.0, "new": 105.0}, now=110.0, grace_s=10.0) == ["lost"]
    assert due({"lost": 100.0}, now=109.9, grace_s=10.0) == []


def test_a_worker_that_said_goodbye_is_acted_on_once():
    c = redis_restarted()
    c.event("worker-offline", 20, "w1@h", pid=11)
    service = SweepingRecovery(c, {}, {"w2@h": {}}, {("w2@h", 12)})
    service.tick(T0 + 21)
    acted = service.reads  # its jobs, then a catch-up
    assert acted >= 1
    for tick in range(1, 5):
        service.tick(T0 + 21 + tick * 0.5)
    assert service.reads == acted  # not on every tick: a goodbye clears the heartbeats, handled must still match


def test_a_restart_gives_back_only_what_was_delivered_before_it():
    c = redis_restarted()  # w2 received "new" at +12
    early = held("new", "w2@h", 12, T0 + 12.0)
    service = SweepingRecovery(c, {"new": early}, {"w1@h": {}, "w2@h": {}}, {("w1@h", 11), ("w2@h", 12)})
    loss = Loss("w2@h", "started again", before=T0 + 20)
    assert to_restore(loss, {"new": early}) == [early]
    taken_since = replace(early, delivered=T0 + 20.5)  # the new process took it again already
    assert to_restore(loss, {"new": taken_since}) == []
    assert to_restore(replace(loss, before=None), {"new": taken_since}) == [taken_since]
    service._on_event({"type": "worker-online", "hostname": "w2@h", "pid": 12})  # no timestamp: not judged
    assert service.restarts == []
