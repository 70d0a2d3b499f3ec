"""The cluster as Celery's events tell it: one model for the live view, `watch`, and the figures.

`ClusterEvents` follows the events (task-sent from producers; task-received/started/succeeded/
failed/retried/rejected and worker heartbeats from workers run with `-E`) in a daemon thread,
into Celery's own `events.State`, reconnecting with backoff when Redis goes away. Readers take
a `Snapshot`: plain frozen facts, built from values copied under the State's lock (the copy
alone holds it), that pure code (lanes, seen, the recovery service judging who is gone)
can use without any I/O.

Clocks: a task's times (`sent`, `received`, `started`, `succeeded`, ...) are the *sender's*
clock, the `timestamp` field of each event, as Celery's State stores them (the same clock as
the result record's started_at / finished_at). A worker's heartbeats are the *receiver's*
clock (`local_received`), as Celery's State stores them and judges `alive` by (it counts a
task event as a heartbeat too, at that event's timestamp: the sender's clock). Both are
seconds since the epoch; on one host (compose, local processes) they are the same clock, across
hosts they agree as well as NTP keeps them (Celery warns past 16 s of drift).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.events.state import State, Task, Worker, heartbeat_expires
from kombu.utils.functional import LRUCache

#: How a run (one attempt of a task on one worker) ended; None while it runs.
ENDS = ("succeeded", "failed", "retried", "rejected", "revoked", "lost")


@dataclass
class Attempt:
    """One attempt of a task on one worker: started by `task-started`, ended by its outcome."""

    node: str  # the worker's node name, e.g. worker@a904c1d2e3f4
    pid: int | None  # the pid the worker's task-started event carried (the worker process)
    started: float  # worker clock
    ended: float | None = None
    end: str | None = None  # one of ENDS


@dataclass
class Holder:
    """The worker that received a task's message last (task-received): it holds it, unacknowledged,
    until the run ends; a received job waiting behind a running one has no run yet."""

    node: str
    pid: int | None  # the pid its task-received event carried: the worker's main process
    received: float  # worker clock
    settled: bool = False  # an end (succeeded, failed, retried, rejected, revoked) came from it


class TrackedTask(Task):
    """Celery's Task state, plus every attempt it made (State keeps only the latest worker).

    A job redelivered after its worker died, or retried, starts again on another (or the same)
    worker: `runs` keeps each attempt, so a lane can show the lost one and the one that followed.
    """

    runs: list[Attempt]
    receptions: int
    holder: Holder | None

    def event(self, type_: str, timestamp: float | None = None, local_received: float | None = None,
              fields: dict[str, Any] | None = None, **kwargs: Any) -> None:
        fields = fields or {}
        runs = self.__dict__.setdefault("runs", [])
        node = fields.get("hostname")
        if type_ == "received":
            self.__dict__["receptions"] = self.__dict__.get("receptions", 0) + 1
            self.__dict__["holder"] = Holder(node or "?", fields.get("pid"), timestamp or 0.0)
            if runs and runs[-1].end is None:  # delivered again while the last attempt never ended
                runs[-1].end = "lost"
        elif type_ == "started" and timestamp is not None:
            if runs and runs[-1].end is None:
                runs[-1].end = "lost"
            runs.append(Attempt(node or "?", fields.get("pid"), timestamp))
        elif type_ in ENDS and runs and runs[-1].end is None and runs[-1].node == node:
            runs[-1].ended, runs[-1].end = timestamp, type_
        if type_ in ENDS and (holder := self.__dict__.get("holder")) is not None and holder.node == node:
            holder.settled = True  # that worker is done with its copy (a retry is a new message)
        super().event(type_, timestamp, local_received, fields, **kwargs)


class TrackedWorker(Worker):
    """Celery's Worker state, plus when it said goodbye: worker-offline clears its heartbeats, and
    a job it left unfinished ends then, not "until now"."""

    @property
    def id(self) -> str:
        """Celery's `hostname.pid`, which its State asks of every task event's worker: an f-string, not
        `str.format` (a tenth of the State's time per event, measured under load)."""
        return f"{self.hostname}.{self.pid}"

    def _create_event_handler(self) -> Callable[..., None]:
        handle = super()._create_event_handler()

        def event(type_: str, timestamp: float | None = None, local_received: float | None = None,
                  fields: dict[str, Any] | None = None, **kwargs: Any) -> None:
            # receiver clock, like the heartbeats it replaces; a worker back online is no longer offline
            self.__dict__["offline_at"] = (local_received or timestamp) if type_ == "offline" else None
            handle(type_, timestamp, local_received, fields, **kwargs)
        return event


class ChildrenToResolve(LRUCache):
    """Celery's State keeps here the subtasks whose parent it has not seen yet, and asks it for every task event
    (`pop`, KeyError when none): kombu's LRUCache gets that from MutableMapping.pop, which raises twice in
    Python; one dict.pop does the same (a fifth of the State's time per event, measured under load)."""

    def pop(self, key: Any, *default: Any) -> Any:
        with self.mutex:
            return self.data.pop(key, *default)


class EventState(State):
    """Celery's State with TrackedTask and TrackedWorker; fed with `state.event(event_dict)` like any State.

    It also notes which tasks an event touched since a snapshot last copied them (`changed`, under the
    State's lock), and keeps the facts built for each task (`facts`, under `facts_lock`): a snapshot
    copies and rebuilds only what changed, not the thousands of tasks a frame shows.
    """

    Task = TrackedTask
    Worker = TrackedWorker

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks_to_resolve = ChildrenToResolve(self.max_tasks_in_memory)
        self.changed: set[str] = set()
        self.facts: dict[str, Known] = {}
        self.facts_lock = threading.Lock()  # one snapshot at a time updates `facts`

    def event(self, event: dict[str, Any]) -> Any:
        with self._mutex:
            try:
                return self._event(event)
            finally:  # an event Celery choked on may have changed its task before it raised
                if (uuid := event.get("uuid")) is not None:
                    self.changed.add(uuid)
                    if len(self.changed) > 2 * self.max_tasks_in_memory:  # no snapshot for long: what is still held
                        self.changed.intersection_update(self.tasks.data)


@dataclass(frozen=True)
class WorkerFacts:
    """A worker node as its events describe it."""

    name: str  # node name, e.g. worker@a904c1d2e3f4
    hostname: str  # the part after @: the container's hostname
    pid: int | None  # the worker's main process
    alive: bool  # a heartbeat within Celery's expiry window (2 x freq)
    offline: bool  # said goodbye (worker-offline): left cleanly, not lost
    last_heartbeat: float | None  # receiver clock
    heartbeat_age_s: float | None
    active: int | None  # jobs running, from its last heartbeat
    processed: int | None
    offline_at: float | None = None  # receiver clock: when it said goodbye (its heartbeats are gone then)

    @property
    def silent_since(self) -> float | None:
        """Its last sign of life (receiver clock): the last heartbeat, or its goodbye."""
        return self.last_heartbeat if self.last_heartbeat is not None else self.offline_at


@dataclass(frozen=True)
class TaskFacts:
    """A task as its events describe it (sender clocks, see the module's docstring)."""

    id: str
    name: str | None
    state: str  # Celery's: PENDING (sent), RECEIVED, STARTED, SUCCESS, FAILURE, RETRY, ...
    node: str | None  # the worker of its latest event
    pid: int | None  # from its latest task-started
    sent: float | None
    received: float | None
    started: float | None
    succeeded: float | None
    failed: float | None
    retries: int
    runs: tuple[Attempt, ...]
    holder: Holder | None = None

    @property
    def redelivered(self) -> bool:
        """Ran (or was delivered) again after an attempt that never ended: its worker was lost."""
        return any(r.end in ("lost", "rejected") for r in self.runs[:-1])


@dataclass(frozen=True)
class Snapshot:
    """Everything known at `taken_at` (receiver clock), copied out of the State."""

    taken_at: float
    workers: tuple[WorkerFacts, ...]
    tasks: tuple[TaskFacts, ...]
    events: int

    def worker(self, name: str) -> WorkerFacts | None:
        return next((w for w in self.workers if w.name == name), None)

    def silent_workers(self, now: float, after_s: float) -> list[WorkerFacts]:
        """Workers not offline whose last heartbeat is older than `after_s` (a recovery service's question)."""
        return [w for w in self.workers if not w.offline
                and (w.last_heartbeat is None or now - w.last_heartbeat > after_s)]

    def unfinished_on(self, node: str) -> list[TaskFacts]:
        """Tasks whose latest attempt started on `node` and never ended: lost with it if it is dead."""
        return [t for t in self.tasks if t.runs and t.runs[-1].node == node and t.runs[-1].end is None]


@dataclass(frozen=True)
class Known:
    """What a snapshot keeps of a task between frames: its facts, and what `since` is judged by."""

    facts: TaskFacts
    ready: bool  # finished (Celery's READY_STATES)
    last_heard: float  # its latest event's timestamp (sender clock)


def _task_values(t: Task) -> tuple[Any, ...]:
    """A task's plain values; runs and holders field by field, since the events thread changes them in place."""
    extra = t.__dict__
    holder = extra.get("holder")
    return (t.uuid, t.name, t.state, t.worker.hostname if t.worker is not None else None, t.sent, t.received,
            t.started, t.succeeded, t.failed, t.retries,
            [(r.node, r.pid, r.started, r.ended, r.end) for r in extra.get("runs", ())],
            None if holder is None else (holder.node, holder.pid, holder.received, holder.settled),
            t.ready, t.timestamp or 0.0)


def _known(values: tuple[Any, ...]) -> Known:
    uuid, name, state_, node, sent, received, started, succeeded, failed, retries, runs_, holder, ready, last = values
    runs = tuple(Attempt(*r) for r in runs_)
    return Known(TaskFacts(uuid, name, state_, node, runs[-1].pid if runs else None, sent, received, started,
                           succeeded, failed, retries or 0, runs, None if holder is None else Holder(*holder)),
                 ready, last)


def _copy(state: EventState) -> tuple[list[tuple[Any, ...]], list[str], list[tuple[Any, ...]], int]:
    """What a Snapshot needs that may have changed, as plain values: what runs under the State's lock, kept
    to the minimum. Every worker (a few); the tasks' ids in the State's order; the values of the tasks an
    event touched since the last copy, or that the snapshot does not know yet."""
    workers = [(name, w.pid, w.heartbeats[-1] if w.heartbeats else None, w.freq, w.expire_window, w.active,
                w.processed, w.__dict__.get("offline_at")) for name, w in list(state.workers.items())]
    tasks = state.tasks.data  # kombu's LRUCache: its OrderedDict, read without moving anything
    ids = list(tasks)
    known = state.facts
    todo = state.changed.union(uuid for uuid in ids if uuid not in known)
    state.changed = set()
    changed = [_task_values(t) for uuid in todo if (t := tasks.get(uuid)) is not None]
    return workers, ids, changed, state.event_count


def snapshot(state: EventState, now: float, since: float | None = None) -> Snapshot:
    """Plain facts from the State at `now` (receiver clock); no I/O.

    Only `_copy` holds the State's lock (the events thread cannot apply an event meanwhile):
    it copies the plain values of what changed since the last snapshot; the facts are built
    from them after the lock is released, and the live view lays them out later still. A
    frame under full load rebuilds the tasks of ~0.3 s of events, not the 3,000 it shows.
    With `since`, finished tasks whose last event is older are left out (a scrolling view's
    frame need not lay out thousands of them).
    """
    with state.facts_lock:
        raw_workers, ids, changed, events = state.freeze_while(_copy, state)
        known = state.facts
        for values in changed:
            known[values[0]] = _known(values)
        if len(known) > len(ids):  # tasks the State let go (its LRU limit, a clear)
            known = state.facts = {uuid: known[uuid] for uuid in ids}
        entries = [known[uuid] for uuid in ids]
    workers = []
    for name, pid, beat, freq, expire_window, active, processed, offline_at in raw_workers:
        alive = beat is not None and now < heartbeat_expires(beat, freq, expire_window)
        workers.append(WorkerFacts(
            name, name.partition("@")[2] or name, pid, alive, beat is None and pid is not None,
            beat, None if beat is None else max(0.0, now - beat), active, processed, offline_at))
    tasks = tuple(e.facts for e in entries if since is None or not e.ready or e.last_heard >= since)
    return Snapshot(now, tuple(sorted(workers, key=lambda w: w.name)), tasks, events)


#: The routing key of the workers' own events (online, heartbeat, offline), without the tasks'.
WORKER_EVENTS = "worker.#"


class ClusterEvents:
    """Follows the cluster's events in a daemon thread; thread-safe snapshots; reconnects.

    Use as a context manager, or `start()` / `stop()`. `connected` and `error` say whether
    events are flowing (the view shows "broker unreachable" otherwise); while Redis is away
    the thread retries with a backoff from 0.5 s doubling up to 5 s.
    """

    def __init__(self, app: Celery, state: EventState | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None, routing_key: str = "#") -> None:
        self.app = app
        self.routing_key = routing_key  # "#": every event; WORKER_EVENTS: the workers' only (Redis: PSUBSCRIBE)
        self.state = state if state is not None else EventState()
        self.on_event = on_event
        self.connected = False
        self.connections = 0  # times the events started flowing: a reader polling `connected` may miss a drop
        self.error: str | None = None
        self.should_stop = False
        self._receiver: Any = None
        self._thread = threading.Thread(target=self._follow, name="cluster-events", daemon=True)
        self._ready = threading.Event()
        self._pause = threading.RLock()  # held by `paused()`: the events thread applies no event meanwhile

    def __enter__(self) -> ClusterEvents:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, wait_s: float = 0.0) -> None:
        """Start following; wait up to `wait_s` for the first connection (so no early event is missed)."""
        self._thread.start()
        if wait_s:
            self._ready.wait(wait_s)

    def stop(self, timeout_s: float = 3.0) -> None:
        """Ask the thread to stop (it notices within a second) and wait for it."""
        self.should_stop = True
        if self._receiver is not None:
            self._receiver.should_stop = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def snapshot(self, now: float | None = None, since: float | None = None) -> Snapshot:
        """The facts as of now (receiver clock); finished tasks last heard of before `since` left out."""
        return snapshot(self.state, time.time() if now is None else now, since)

    def workers(self, now: float | None = None) -> tuple[WorkerFacts, ...]:
        return self.snapshot(now).workers

    def silent_workers(self, now: float, after_s: float) -> list[WorkerFacts]:
        """Workers whose heartbeats stopped more than `after_s` ago (and did not say goodbye)."""
        return self.snapshot(now).silent_workers(now, after_s)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The block runs while the events thread waits before its next event: a frame drawn in one go.

        Python runs one thread at a time (the GIL): a frame drawn while the events thread decodes a
        backlog gets the interpreter back a few milliseconds at a time, each time only once the OS
        runs it again, which on a busy machine is later still (measured at 32 workers on 2 cores: a
        frame of 20 ms of CPU took 200-300 ms). Paused, the events thread sleeps on this lock
        instead; what arrives meanwhile waits in the socket, and is applied when the block ends.
        Only for work without I/O (a terminal that blocks, Redis that is slow to answer would keep
        the events waiting with it); a block may pause again inside (re-entrant).
        """
        with self._pause:
            yield

    def _handle(self, event: dict[str, Any]) -> None:
        with self._pause:
            self.state.event(event)
        if self.on_event is not None:
            self.on_event(event)

    def _ready_to_consume(self, *args: Any, **kwargs: Any) -> None:
        channel = args[1] if len(args) > 1 else None
        # kombu's Redis transport subscribes only at its next poll, after this callback: an event
        # published before it (the first job's, by a producer that waited on `start`) was lost. Its
        # poller's own step, taken now, subscribes before anyone is told to go on (the poll then
        # finds it done). kombu internals, pinned by tests/integration/test_events.py.
        poller = getattr(getattr(channel, "connection", None), "cycle", None)
        if channel is not None and getattr(channel, "active_fanout_queues", None) \
                and hasattr(poller, "_register_LISTEN"):
            poller._register_LISTEN(channel)
        self.connected, self.error = True, None
        self.connections += 1
        self._receiver.wakeup_workers(channel=channel)  # heartbeats now, not in 2 s
        self._ready.set()

    def _follow(self) -> None:
        backoff = 0.5
        while not self.should_stop:
            try:
                with self.app.connection_for_read() as connection:
                    receiver = self.app.events.Receiver(connection, handlers={"*": self._handle},
                                                        routing_key=self.routing_key)
                    receiver.connect_max_retries = 0  # fail fast: this loop reports, backs off and retries
                    receiver.on_connection_error = lambda *_: None  # kombu would log a traceback over the view
                    receiver.on_consume_ready = self._ready_to_consume
                    receiver.should_stop = self.should_stop
                    self._receiver = receiver
                    for _ in receiver.consume(limit=None, timeout=None, wakeup=False):
                        backoff = 0.5
            except Exception as exc:  # noqa: BLE001  (any broker error: shown in the view, then retried)
                self.connected, self.error = False, f"{type(exc).__name__}: {exc}"
                self._ready.set()
                deadline = time.monotonic() + backoff
                while not self.should_stop and time.monotonic() < deadline:
                    time.sleep(0.1)
                backoff = min(5.0, backoff * 2)
            else:
                self.connected = False
