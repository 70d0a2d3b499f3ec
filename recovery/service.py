"""The recovery service: a dead worker's jobs back in the queue within seconds, not after an hour.

With Redis as broker, a job a worker took and never acknowledged waits in kombu's `unacked`
hash until the visibility timeout (an hour: settings.model) hands it to another worker.
This service follows the workers' events only (heartbeats, online, offline: Celery's
EventReceiver on the routing key `worker.#`, cluster/events.py) and, when a worker is gone,
puts the jobs it held back in the queue at once. Who holds what it reads from the broker, not
from task events: each `unacked` entry a worker claimed names it (worker/layout.py's
CLAIMED_BY), and what a worker took and had not claimed yet is in its hand-off list. The jobs
go back through kombu's own Redis QoS (`restore_by_tag`, the call kombu's
visibility-timeout sweep makes), so a restored job carries kombu's `redelivered` flag.

A worker is gone when
- its heartbeats (every 2 s) stopped more than RECOVERY_SILENCE seconds ago AND none of its
  Redis connections is open any more (they carry its name: worker/health.py). A killed
  process's sockets are closed by the kernel at once;
- or its heartbeats stopped as long AND every connection it has is idle as long: its host
  was cut off the network (Redis keeps half-open connections for minutes) or it is frozen
  (a paused container). It is fenced off: its connections are closed (CLIENT KILL), so it can
  acknowledge nothing it holds, and its runs are marked interrupted (not deaths). A worker
  whose loop a job blocks (the solo pool) still PINGs from its pulse thread: left alone;
- or it came back under the same name with another pid (its container restarted): what the
  previous process had received is lost with it;
- or it said goodbye (worker-offline): it has acknowledged or put back its jobs itself, so
  this finds nothing, unless something went wrong.
Only tags that are still unacknowledged AND were last claimed by that worker (that process,
for a restart) are restored; a job that finished is acknowledged, so it is not in the hash any
more. A job a worker took with kombu's plain BRPOP (a worker of another image) names no
holder: the catch-up below, run at once after every loss, finds it.

When the service starts (or its event stream reconnects), it has not seen who received
what: once every live worker had time to heartbeat, it asks the workers that have Redis
connections open what they hold (inspect scheduled/reserved/active) and restores the
unacknowledged jobs no one holds. If one of them does not answer, only the jobs it may hold
wait, and it asks again a few seconds later. What the workers answer decides, not the
entries' names: after a Redis restart the live workers have cancelled the jobs they ran (the
connection was lost) and kombu's attempt to put them back failed while Redis was away, so
those jobs are in the hash, held by nobody, while their entries still name a live worker.

`python -m recovery` runs it; it touches RECOVERY_HEALTH_FILE while it follows the
events (the container's healthcheck reads its age). Each action is one log line.
"""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from celery import Celery, states

from cluster.events import WORKER_EVENTS, ClusterEvents, Snapshot
from settings import SettingError, current
from worker import layout, runs
from worker.config import WORKER_CLIENT_PREFIX
from worker.transport import holder_of

log = logging.getLogger("recovery")

#: Seconds between two looks at the cluster.
POLL_S = 0.5
#: Seconds between two catch-up sweeps of the unacked hash (also run at start, after a
#: reconnection, and after every loss: a worker killed right after taking a job may never
#: have sent its task-received event).
SWEEP_EVERY_S = 60.0
#: A message taken this recently may not show in its worker's lists yet: a sweep leaves it.
SWEEP_MIN_AGE_S = 2.0
#: Seconds between two CLIENT LISTs while every worker heartbeats (then only a worker the
#: service never heard of, frozen since before it started, is left to find).
LIST_EVERY_S = 5.0
#: Seconds until a sweep skipped (a worker did not answer, e.g. still reconnecting after a
#: Redis restart) is tried again; doubled on each skip in a row, up to SWEEP_EVERY_S.
SWEEP_RETRY_S = 3.0


@dataclass(frozen=True)
class Unacked:
    """One message kombu holds as delivered and not acknowledged."""

    tag: str
    task_id: str
    task: str
    delivered: float | None = None  # kombu's clock (time.time()) when a worker took it
    holder: tuple[str, int] | None = None  # (node, pid) that claimed it, when the claim named it


@dataclass(frozen=True)
class Loss:
    """A worker process that is gone, and why; with `pid`, only what that process received; with
    `before` (worker clock), only what it received before then (a restart seen by its new start)."""

    node: str
    why: str
    pid: int | None = None
    before: float | None = None
    fenced: bool = False  # cut off, not dead: its runs were interrupted, they did not kill it


def short(task_id: str) -> str:
    return f"{task_id[:4]}…"


def parse_unacked(entries: Mapping[Any, Any], delivered: Mapping[Any, float] | None = None) -> dict[str, Unacked]:
    """kombu's `unacked` hash (tag -> [message, exchange, routing key]) by task id, with when each was
    delivered (`unacked_index`) and who claimed it (worker/layout.py's `claimant`); others skipped."""
    found: dict[str, Unacked] = {}
    for raw_tag, raw in entries.items():
        tag = raw_tag.decode() if isinstance(raw_tag, bytes) else str(raw_tag)
        try:
            message = json.loads(raw)[0]
            task_id, task = message["headers"]["id"], message["headers"].get("task") or "?"
        except (ValueError, KeyError, TypeError, IndexError):
            continue  # not a Celery task message (protocol 2): not ours to judge
        when = (delivered or {}).get(raw_tag, (delivered or {}).get(tag))
        found[task_id] = Unacked(tag, task_id, task, when, layout.claimed_by(message, when))
    return found


@dataclass(frozen=True)
class Connection:
    """One of a worker's Redis connections, as CLIENT LIST tells it."""

    node: str
    pid: int
    id: str  # Redis's client id: what CLIENT KILL ID takes
    idle_s: float  # seconds since it last sent a command (or was sent a reply)
    pubsub: bool = False  # subscribed: Redis pushes messages to it, which resets its idle time


def worker_connections(clients: Iterable[Mapping[str, Any]]) -> list[Connection]:
    """The worker processes' Redis connections, from CLIENT LIST's names (`celery-worker:<node>/<pid>`)."""
    found = []
    for c in clients:
        if (holder := holder_of(str(c.get("name") or ""), WORKER_CLIENT_PREFIX)) is not None:
            try:
                idle = float(c.get("idle") or 0)
            except (TypeError, ValueError):
                idle = 0.0
            found.append(Connection(*holder, str(c.get("id", "")), idle, "P" in str(c.get("flags") or "")))
    return found


def vanished(connections: Iterable[Connection], snap: Snapshot, now: float, silence_s: float,
             handled: Mapping[str, float | None]) -> dict[str, list[Connection]]:
    """Workers still connected but gone quiet on every connection: a host cut off or frozen.

    A live worker sends a heartbeat every 2 s (a PUBLISH on one of its connections), busy or
    not, so every connection of a node idle for `silence_s`, with no heartbeat heard for as
    long (or none ever), means its host vanished (a network cut: Redis keeps the half-open
    connections for minutes) or froze (a paused container). Its connections are to be closed
    (fenced), so nothing it still holds can be acknowledged as if it were alive, and its jobs
    handed on. Nodes already acted on keep their entry in `handled` until they heartbeat anew.
    """
    by_node: dict[str, list[Connection]] = {}
    for c in connections:
        by_node.setdefault(c.node, []).append(c)
    quiet: dict[str, list[Connection]] = {}
    for node, conns in by_node.items():
        # A subscribed connection is never idle while others publish (Redis counts what it
        # sends as interaction, even into a dead socket): only the others say whether it talks.
        # One with only those left (Redis's keepalive closed the rest) is quiet too.
        if min((c.idle_s for c in conns if not c.pubsub), default=math.inf) < silence_s:
            continue
        worker = snap.worker(node)
        heard = worker.silent_since if worker is not None else None
        if heard is not None and now - heard < silence_s:
            continue
        if worker is not None and node in handled and handled[node] == worker.last_heartbeat:
            continue  # acted on already; it has not heartbeated since
        quiet[node] = sorted(conns, key=lambda c: c.id)
    return quiet


def silent_losses(snap: Snapshot, now: float, silence_s: float, connected: set[str] | None,
                  handled: Mapping[str, float | None]) -> tuple[list[Loss], list[str]]:
    """Workers gone (silent or said goodbye, no connection open) and workers silent but still connected.

    `handled` maps a node to the last heartbeat it had when it was last acted on: it is not
    acted on again until it heartbeats anew and falls silent again. With `connected` None
    (CLIENT LIST refused), silence alone decides.
    """
    gone, waiting = [], []
    quiet = snap.silent_workers(now, silence_s) + [w for w in snap.workers if w.offline]
    for w in quiet:
        if w.name in handled and handled[w.name] == w.last_heartbeat:
            continue
        if connected is not None and w.name in connected:
            if not w.offline:
                waiting.append(w.name)
            continue
        if w.offline:
            gone.append(Loss(w.name, "left (worker-offline)"))
        else:
            age = f"{w.heartbeat_age_s:.1f} s" if w.heartbeat_age_s is not None else "ever"
            gone.append(Loss(w.name, f"silent for {age}"))
    return gone, waiting


@dataclass(frozen=True)
class Judgement:
    """What one look at the cluster decided (`judge`): the service carries it out."""

    fence: dict[str, list[Connection]]  # vanished workers (cut off, frozen): their connections, to close
    losses: list[Loss]  # whose jobs go back: the restarts, then the fenced, then the gone
    again: list[Loss]  # restarts whose earlier process is still connected: looked at again next time
    waiting: set[str]  # silent but connected and busy on it (a job blocks its loop): left alone


def fenced_loss(node: str, conns: list[Connection], silence_s: float) -> Loss:
    idle = min((c.idle_s for c in conns if not c.pubsub), default=silence_s)
    return Loss(node, f"silent, its {len(conns)} connections idle for {idle:.0f} s (host cut off or frozen): "
                      f"fenced off", fenced=True)


def judge(snap: Snapshot, now: float, silence_s: float, clients: list[Connection] | None, restarts: list[Loss],
          handled: Mapping[str, float | None]) -> Judgement:
    """Who is gone, who is to be fenced, who is left alone (pure).

    `clients` are the workers' Redis connections (None: CLIENT LIST refused, silence alone
    decides; []: not read this time); `restarts` what the events told since the last look;
    `handled` who was acted on already (node -> its last heartbeat then).
    """
    quiet = vanished(clients, snap, now, silence_s, handled) if clients is not None else {}
    connected = None if clients is None else {(c.node, c.pid) for c in clients if c.node not in quiet}
    nodes = None if connected is None else {node for node, _ in connected}
    gone, waiting = silent_losses(snap, now, silence_s, nodes, handled)
    again = [r for r in restarts if r.pid is not None and connected is not None and (r.node, r.pid) in connected]
    lost = [r for r in restarts if not any(r is a for a in again)]
    fenced = [fenced_loss(node, conns, silence_s) for node, conns in quiet.items()]
    return Judgement(quiet, lost + fenced + [g for g in gone if g.node not in quiet], again, set(waiting))


def to_restore(loss: Loss, unacked: Mapping[str, Unacked]) -> list[Unacked]:
    """The unacknowledged messages the lost worker claimed (with `pid`, that process; with `before`,
    before then): what its entries name it the holder of, in the order they were delivered."""
    return sorted((u for u in unacked.values() if u.holder is not None and u.holder[0] == loss.node
                   and (loss.pid is None or u.holder[1] == loss.pid)
                   # a worker that started again may have claimed a job since: only what was
                   # delivered before its new start (the claim's clock is the worker's own)
                   and (loss.before is None or (u.delivered or math.inf) < loss.before)),
                  key=lambda u: (u.delivered or 0.0, u.tag))


def orphans(unacked: Mapping[str, Unacked], held_anywhere: set[str], now: float, min_age_s: float) -> list[Unacked]:
    """Unacknowledged messages no live worker holds, delivered more than `min_age_s` ago
    (a message just taken may not show in its worker's lists yet)."""
    return [u for u in unacked.values() if u.task_id not in held_anywhere
            and u.delivered is not None and now - u.delivered > min_age_s]


def held_in(answers: Mapping[str, Iterable[Mapping[str, Any]]]) -> set[str]:
    """Task ids in inspect's answers (active lists requests, scheduled wraps them in `request`)."""
    return {(j.get("request") or j).get("id") for jobs in answers.values() for j in jobs or ()}


def attributable(orphan: Unacked, unanswered: set[str]) -> bool:
    """Whether an orphan may be restored although `unanswered` workers did not say what they hold:
    its entry names (`holder`) a worker that did answer, or one gone. One a silent worker claimed,
    or that names no one (taken with kombu's plain BRPOP), waits for that worker's answer or its
    fencing."""
    return not unanswered or (orphan.holder is not None and orphan.holder[0] not in unanswered)


def action_line(who: str, why: str, restored: list[Unacked], taken: int = 0) -> str:
    """`worker@ab12 silent for 6.1 s: 1 job back in the queue (task1 4f1c…)`, and the jobs its
    hand-off list held (taken, not yet claimed: on their way to it)."""
    on_way = f"{taken} job{'s' if taken != 1 else ''} on its way to it back in the queue" if taken else ""
    if not restored:
        return f"{who} {why}: {on_way or 'none of its jobs left unacknowledged'}"
    jobs = f"{len(restored)} job{'s' if len(restored) != 1 else ''}"
    names = ", ".join(f"{u.task} {short(u.task_id)}" for u in restored)
    return f"{who} {why}: {jobs} back in the queue ({names})" + (f"; {on_way}" if on_way else "")


class Recovery:
    """Decides who is gone and puts their jobs back; `tick()` once per POLL_S."""

    def __init__(self, app: Celery, silence_s: float | None = None) -> None:
        self.app = app
        self.silence_s = current().recovery_silence if silence_s is None else silence_s
        self.visibility_timeout_s = current().visibility_timeout
        self.events = ClusterEvents(app, on_event=self._on_event, routing_key=WORKER_EVENTS)
        self.handled: dict[str, float | None] = {}
        self.waiting: set[str] = set()  # silent but connected: said once
        self.pids: dict[str, int] = {}
        self.restarts: list[Loss] = []
        self.fenced: dict[str, float] = {}  # node -> when it was fenced off (time.time())
        self._lock = threading.Lock()
        self._connection: Any = None
        self.sweep_at: float | None = None
        self.hold_until = 0.0
        self._connections_seen = 0  # ClusterEvents.connections when last looked: a new one means a reconnection
        self.client_list_ok = True
        self.sweep_retry_s = SWEEP_RETRY_S
        self.unanswered: frozenset[str] = frozenset()  # who did not answer the last sweep: said once
        self._listed_at = 0.0  # when CLIENT LIST was last asked

    # --- the event thread --------------------------------------------------------------

    def _on_event(self, event: dict[str, Any]) -> None:
        kind, node, pid = event.get("type", ""), event.get("hostname"), event.get("pid")
        if not kind.startswith("worker-") or node is None or pid is None:
            return
        with self._lock:
            old = self.pids.get(node)
            self.pids[node] = pid
            if old is not None and old != pid:  # same name, new process: the old one is gone
                self.restarts.append(Loss(node, f"restarted (pid {old} -> {pid})", pid=old))
            elif old is not None and kind == "worker-online" and event.get("timestamp") is not None:
                # A new start under the same name and pid (a container restarted: pid 7 again), or
                # the same process back after losing Redis (it cancelled what it ran, and its
                # prefetched jobs went with the connection): either way, what it received before
                # this moment is no longer held by anyone.
                self.restarts.append(Loss(node, "started again (worker-online)", before=event.get("timestamp")))

    # --- broker access -----------------------------------------------------------------

    @property
    def channel(self) -> Any:
        if self._connection is None:
            self._connection = self.app.connection_for_write()
        return self._connection.default_channel

    def reset(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001  (closing a broken connection)
                pass
        self._connection = None

    def read_unacked(self) -> dict[str, Unacked]:
        chan = self.channel
        delivered = dict(chan.client.zrange(chan.unacked_index_key, 0, -1, withscores=True))
        return parse_unacked(chan.client.hgetall(chan.unacked_key), delivered)

    def connections(self) -> list[Connection] | None:
        """The workers' Redis connections; None when CLIENT LIST is refused (an ACL without it)."""
        try:
            return worker_connections(self.channel.client.client_list())
        except redis.exceptions.ResponseError as exc:  # refused: heartbeats alone decide
            if self.client_list_ok:
                log.warning("cannot list Redis clients (%s): a silent worker counts as gone", exc)
            self.client_list_ok = False
            return None

    def connected(self) -> set[tuple[str, int]] | None:
        """(node, pid) of the worker processes with a connection open; None when CLIENT LIST is refused."""
        found = self.connections()
        return None if found is None else {(c.node, c.pid) for c in found}

    def fence(self, connections: list[Connection]) -> None:
        """Close a vanished worker's connections (CLIENT KILL ID): whatever it still holds can no
        longer be acknowledged, and when its host comes back it reconnects as a new client."""
        client = self.channel.client
        for c in connections:
            try:
                client.execute_command("CLIENT", "KILL", "ID", c.id)
            except redis.exceptions.ResponseError as exc:
                if "No such client" not in str(exc):  # closed meanwhile: nothing to say
                    log.warning("cannot close %s's connection %s: %s", c.node, c.id, exc)

    def restore(self, messages: list[Unacked]) -> list[Unacked]:
        """Put each message back at the head of its queue (the next BRPOP takes it), as kombu's
        restore_by_tag does, but under a new delivery tag: the worker that held it, should it come
        back (a healed network, a thawed container), can then neither acknowledge nor put back the
        copy another worker now holds under the old tag (a third run, seen before issue #20)."""
        chan = self.channel
        for message in messages:
            layout.put_back_unacked(chan, chan.client, message.tag)
        return messages

    def takers(self) -> list[str]:
        """Every worker that may have a hand-off list (worker/layout.py)."""
        return layout.takers(self.channel.client)

    def put_back_taken(self, node: str, forget: bool = False) -> int:
        """Jobs on their way to `node` (in its hand-off list, worker/layout.py) back in their queue;
        how many. Should it be alive after all, its claim of any of them fails and it drops it.
        With `forget`, it leaves the takers' set too (a live one adds itself again as it takes)."""
        chan = self.channel
        moved = layout.put_back_taken(chan, chan.client, node)
        if forget:
            chan.client.zrem(layout.TAKERS, node)
        return len(moved)

    def interrupt(self, task_ids: list[str], fenced: Mapping[str, float]) -> None:
        """Mark these jobs' runs on the fenced nodes (node -> when) interrupted (worker.runs): cut
        off, not killed by the job. An entry closes only the runs recorded before it in the list."""
        if not task_ids or not fenced:
            return
        for node, at in sorted(fenced.items()):
            runs.record_interruption(self.app.backend.client, task_ids, node, None,
                                     runs.FENCED, datetime.fromtimestamp(at, UTC),
                                     self.app.conf.result_expires)

    # --- decisions ---------------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        """One look at the cluster: read, judge (pure: `judge`), then carry the judgement out."""
        now = time.time() if now is None else now
        if not self._judging(now):
            return
        snap = self.events.snapshot(now)
        restarts = self._take_restarts()
        clients = self._connections_to_judge(snap, now, restarts)
        verdict = judge(snap, now, self.silence_s, clients, restarts, self.handled)
        self._say_who_waits(verdict.waiting)
        self._look_again(verdict.again)
        self._fence(verdict.fence, now)
        self._hand_back(verdict.losses, snap, now)
        self._sweep_when_due(now, after_losses=bool(verdict.losses))

    # --- the steps of a tick ---------------------------------------------------------------

    def _judging(self, now: float) -> bool:
        """Whether it may judge now: events flow, and every live worker had time to heartbeat since
        they (re)started flowing."""
        if self.events.connected and self.events.connections != self._connections_seen:
            # Just (re)connected, however briefly Redis was away: every live worker heartbeats
            # within the silence, and after a Redis restart the workers reconnect too (and have
            # cancelled what they ran: the sweep puts it back). Until then nobody is judged.
            self._connections_seen = self.events.connections
            self.hold_until = self.sweep_at = now + self.silence_s + 2 * POLL_S
        return self.events.connected and now >= self.hold_until

    def _take_restarts(self) -> list[Loss]:
        """The restarts the event thread noticed since the last tick."""
        with self._lock:
            restarts, self.restarts = self.restarts, []
        return restarts

    def _connections_to_judge(self, snap: Snapshot, now: float, restarts: list[Loss]) -> list[Connection] | None:
        """CLIENT LIST when someone is quiet, restarted or a sweep is due, else every LIST_EVERY_S (a
        worker never heard of, frozen since before the service started); [] when nobody needs it."""
        silent = bool(snap.silent_workers(now, self.silence_s) or any(w.offline for w in snap.workers))
        due = self.sweep_at is not None and now >= self.sweep_at
        if silent or restarts or due or now - self._listed_at >= LIST_EVERY_S:
            self._listed_at = now
            return self.connections()
        return []

    def _say_who_waits(self, waiting: set[str]) -> None:
        for node in sorted(waiting - self.waiting):
            log.info("%s silent for more than %g s but still connected to Redis and busy on it: its jobs are left "
                     "alone", node, self.silence_s)
        self.waiting = waiting

    def _look_again(self, again: list[Loss]) -> None:
        with self._lock:  # two workers under one name? not gone yet: looked at again on the next tick
            self.restarts.extend(again)

    def _fence(self, vanished_nodes: Mapping[str, list[Connection]], now: float) -> None:
        for node, conns in vanished_nodes.items():
            self.fence(conns)
            self.fenced[node] = now

    def _hand_back(self, losses: list[Loss], snap: Snapshot, now: float) -> None:
        """Each lost worker's jobs back in the queue (a fenced one's runs first marked interrupted), and
        what was on its way to it; one line each."""
        unacked = self.read_unacked() if losses else {}
        for loss in losses:
            due = [u for u in to_restore(loss, unacked) if not self._finished(u.task_id)]
            if loss.fenced:  # first: a worker taking the restored job must not count the cut-off run as a death
                self.interrupt([u.task_id for u in due], {loss.node: now})
            restored = self.restore(due)
            taken = self.put_back_taken(loss.node)
            if loss.pid is None and loss.before is None:
                worker = snap.worker(loss.node)
                self.handled[loss.node] = worker.last_heartbeat if worker is not None else None
            if restored or taken or not loss.why.startswith(("left", "started again")):
                log.info(action_line(loss.node, loss.why, restored, taken))

    def _sweep_when_due(self, now: float, after_losses: bool) -> None:
        """The catch-up sweep: at once after a loss (what a worker took without telling: its events
        died with it), else when due; sooner again while a worker does not answer."""
        if after_losses:
            self.sweep_at = now
        if self.sweep_at is None or now < self.sweep_at:
            return
        if self.sweep(now):
            self.sweep_at, self.sweep_retry_s = now + SWEEP_EVERY_S, SWEEP_RETRY_S
        else:  # someone did not answer: soon again (a worker reconnecting after a Redis restart)
            self.sweep_at = now + self.sweep_retry_s
            self.sweep_retry_s = min(SWEEP_EVERY_S, 2 * self.sweep_retry_s)

    def sweep(self, now: float) -> bool:
        """Restore unacknowledged jobs that no worker with an open connection holds; False if some
        had to wait (a worker that did not answer may hold them: only those wait)."""
        workers = self.connected()
        if workers is None:
            return True  # CLIENT LIST refused: no catch-up, the silences alone decide
        connected = {node for node, _ in workers}
        for node in sorted(set(self.takers()) - connected):  # a worker gone before it was heard of, too
            if taken := self.put_back_taken(node, forget=True):
                log.info(action_line(node, "has no connection open", [], taken))
        unacked = self.read_unacked()
        if not unacked:
            self.unanswered = frozenset()
            return True
        answers: dict[str, list[Any]] = {}
        missing: set[str] = set()
        if connected:
            inspect = self.app.control.inspect(timeout=1.0, destination=sorted(connected), limit=len(connected))
            # A job's own order (scheduled -> reserved -> active): one moving on while asked is still seen.
            for ask in (inspect.scheduled, inspect.reserved, inspect.active):
                replies = ask() or {}
                missing |= connected - set(replies)
                for node, jobs in replies.items():
                    answers.setdefault(node, []).extend(jobs or [])
        if missing and missing != self.unanswered:
            log.info("catch-up: %s did not answer; only the jobs it may hold wait (asking again in %g s)",
                     ", ".join(sorted(missing)), self.sweep_retry_s)
        self.unanswered = frozenset(missing)
        # A job claimed after its worker answered is younger than SWEEP_MIN_AGE_S: `orphans` leaves it.
        candidates = [u for u in orphans(unacked, held_in(answers), now, SWEEP_MIN_AGE_S)
                      if not self._finished(u.task_id)]
        lost = [u for u in candidates if attributable(u, missing)]
        if lost:
            self.fenced = {node: at for node, at in self.fenced.items() if now - at < self.visibility_timeout_s}
            self.interrupt([u.task_id for u in lost], self.fenced)
            log.info(action_line("catch-up:", "unacknowledged, held by no live worker", self.restore(lost)))
        return len(lost) == len(candidates)

    def _finished(self, task_id: str) -> bool:
        """Its result is stored: acknowledged in a moment, not to be run again."""
        return self.app.AsyncResult(task_id).state in (states.SUCCESS, states.FAILURE)

    # --- running -----------------------------------------------------------------------

    def serve(self, stop: threading.Event, health_file: Path | None = None) -> None:
        """Follow and act until `stop` is set; touch `health_file` while the events flow."""
        self.events.start(wait_s=5)
        failing = False
        try:
            while not stop.is_set():
                try:
                    self.tick()
                    if failing:
                        log.info("broker reachable again")
                    failing = False
                except Exception as exc:  # noqa: BLE001  (Redis away: say it once, retry on the next tick)
                    if not failing:
                        log.warning("cannot act: %s: %s", type(exc).__name__, exc)
                    failing = True
                    self.reset()
                if health_file is not None and self.events.connected and not failing:
                    health_file.touch()
                stop.wait(POLL_S)
        finally:
            self.events.stop()
            self.reset()
            if health_file is not None:
                health_file.unlink(missing_ok=True)


def main() -> int:
    """`python -m recovery`: run until SIGTERM or Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s recovery: %(message)s", stream=sys.stdout)
    from worker import app  # the cluster's app: its broker, its settings

    try:
        settings = current()
    except SettingError as exc:
        print(f"recovery: error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("following the cluster's events; a worker silent for %g s with its connections closed "
             "loses its jobs to the others (backstop: visibility timeout %d s)",
             settings.recovery_silence, settings.visibility_timeout)
    Recovery(app).serve(stop, Path(settings.recovery_health_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
