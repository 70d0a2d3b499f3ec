"""kombu's Redis transport with an atomic hand-off, and junk on a queue set aside instead of obeyed.

**The hand-off.** kombu's worker takes a job with BRPOP and only then writes it into its
`unacked` hash: between the two the job is nowhere in Redis (in a socket, in a frozen or
dying process), and a worker that dies there loses it for good, whichever client sent it
(celery/celery#4354, kombu#305). Here a worker's channel takes a job by moving it, in one
Redis step, into a list that names the worker (worker/layout.py: LMOVE in a Lua script, or
BLMOVE while it waits), then claims it into `unacked` with a script that succeeds only if
the job is still in that list. Whatever happens to the worker in between, the job is in
Redis under its name: the recovery service, the worker itself when its channel opens or
closes, or the backstop sweep puts it back. Any Celery client, the `celery` command and
Flower submit as before; only the workers (connections named `celery-worker:<node>/<pid>`,
worker/health.py) take this way, other consumers (the remote control's replies) keep BRPOP.

Waiting: a worker first runs TAKE over every list it consumes (kombu's order: priority,
then queue), and if all are empty blocks in BLMOVE on one of them (`wait_plan`: priority 0 of
its queue, or of the queue that last had work) for `brpop_timeout` (one queue) or WAIT_SLICE_S
(several), then takes again. A job on another list (a priority step, another queue) that
arrives while it blocks waits that long at most. Redis round trips per job as kombu's: take,
claim, ack.

**Junk.** Bytes that are not JSON, or JSON that is not a Celery task message, raise inside
kombu's read and take the worker's connection down (measured: 20 junk messages, 20 worker
restarts with "Unrecoverable error: JSONDecodeError"). Here such a message goes to the
queue's dead-letter list (`<queue>.dead`) with one log line, and the worker goes on;
`producer status` counts them. What counts as a task message is what the worker could run:
a kombu message (properties with a delivery tag and delivery info, a body kombu can decode)
whose headers name a task and an id (Celery's message protocol 2). A task message whose
content type is refused (pickle) still reaches Celery, which drops it and logs ContentDisallowed.

Settings: `broker_transport = "worker.transport:Transport"` (worker/config.py's celery_config); the URL keeps
its redis:// or rediss:// scheme.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

from settings import current
from settings.urls import db_beside
from worker import layout, runs
from worker.config import WORKER_CLIENT_PREFIX
from worker.records import utc_now

log = logging.getLogger("worker.transport")

#: Seconds a worker consuming several queues blocks on one before it takes from all again.
WAIT_SLICE_S = 0.1

# Kept here for the callers that import them from the transport.
dead_letter_key = layout.dead_letter_key
is_reply_queue = layout.is_reply_queue


def why_not_a_task(payload: Any, reply: bool = False) -> str | None:
    """None if `payload` (decoded JSON) looks like a Celery task message (or, on a `reply` queue,
    any kombu message), else why not (pure)."""
    if not isinstance(payload, dict):
        return f"a JSON {type(payload).__name__}, not a message"
    properties, headers = payload.get("properties"), payload.get("headers")
    if not isinstance(properties, dict) or not isinstance(properties.get("delivery_tag"), str):
        return "no delivery tag: not a kombu message"
    info = properties.get("delivery_info")
    if not isinstance(info, dict) or not isinstance(info.get("exchange"), str) \
            or not isinstance(info.get("routing_key"), str):  # what kombu's QoS reads as it takes it
        return "no delivery info: not a kombu message"
    if reply:
        return None if isinstance(payload.get("body", ""), str) else "its body is not text"
    if not isinstance(headers, dict) or not isinstance(headers.get("task"), str) or not headers.get("id"):
        return "no task name and id in its headers: not a Celery task message"
    if not isinstance(payload.get("body", ""), str):
        return "its body is not text"
    return None


def holder_of(client_name: str | None, prefix: str) -> tuple[str, int] | None:
    """The worker node and process a connection name (`<prefix><node>/<pid>`) belongs to; None for other clients."""
    if not client_name or not client_name.startswith(prefix):
        return None
    node, _, pid = client_name[len(prefix):].rpartition("/")
    return (node, int(pid)) if node and pid.isdigit() else None


def wait_plan(lists: list[str], queues: int, brpop_timeout: float) -> tuple[str, float]:
    """The list to block on after an empty take, and for how long.

    `lists` are in kombu's BRPOP order: the queues' priority-0 lists first, in its fair cycle,
    which moves the queue that last delivered a job to the end (and a queue added last starts
    there). One queue: its priority-0 list for kombu's whole `brpop_timeout`. Several: the last
    queue's (the one that last had work, or was just added) for WAIT_SLICE_S, then a take from
    all of them, so the others wait no longer than that (and Redis's own timer tick, 1/hz).
    """
    if queues <= 1:
        return lists[0], brpop_timeout
    return lists[queues - 1], min(WAIT_SLICE_S, brpop_timeout)


def _attempt(headers: dict[str, Any]) -> int:
    """Which attempt of its job a message is: Celery's `retries` header plus one."""
    retries = headers.get("retries")
    return retries + 1 if isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0 else 1


class TakenBack(Exception):
    """A job taken into this worker's hand-off list was put back before the worker claimed it."""


class QoS(kombu_redis.QoS):
    """kombu's Redis QoS; a job this worker took is claimed from its hand-off list (layout.CLAIM)
    in one step with kombu's own `unacked` writes and its run's start (worker/runs.py), or not at all."""

    def append(self, message: Any, delivery_tag: str) -> None:
        raw = self.channel._taken.pop(delivery_tag, None)
        if raw is None:  # not taken through the hand-off (another consumer, another path): kombu's way
            return super().append(message, delivery_tag)
        chan, now = self.channel, utc_now()
        task_id, attempt = message.headers.get("id"), _attempt(message.headers)
        run_list = None
        if chan.runs_db is not None and isinstance(task_id, str):
            start = runs.entry("started", chan.holder, None, attempt, now, now)
            run_list = (runs.key(task_id), chan.runs_db, start, chan.runs_expire_s)
        with chan.conn_or_acquire() as client:
            before = layout.claim(client, chan.holder, raw, message._raw, now.timestamp(), run_list, chan.holder_pid)
        if before is None:
            raise TakenBack(delivery_tag)
        kombu_redis.virtual.QoS.append(self, message, delivery_tag)
        if run_list is not None:  # the task reads it from its request (Celery copies the headers there)
            message.headers = {**message.headers,
                               runs.CLAIM_HEADER: runs.claim_header(chan.holder, attempt, now, before)}

    def restore_unacked(self, client: Any = None) -> None:
        """kombu's restore of what it holds as its channel closes, each run of them first marked
        interrupted (runs.PUT_BACK): a job put back as its worker stops did not take it down."""
        self.channel.note_put_back(list(self._delivered.values()))
        super().restore_unacked(client)

    def restore_visible(self, start: int = 0, num: int = 10, interval: int = 10) -> None:
        super().restore_visible(start, num, interval)
        if self.channel.holder is not None and (self._vrestore_count - 1) % (interval or 1) == 0:
            self.channel.put_back_stuck()
            self.channel.put_back_abandoned()


class Channel(kombu_redis.Channel):
    """kombu's Redis channel: a worker takes jobs through its hand-off list; a message that
    cannot be a job is set aside as it is read."""

    QoS = QoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = current()
        #: The worker node this channel takes jobs for, or None (not a worker: kombu's BRPOP), and its process.
        self.holder, self.holder_pid = holder_of(self.client_name, WORKER_CLIENT_PREFIX) or (None, None)
        #: The results' database, when a claim can write the run's start there (same server), else None.
        self.runs_db = db_beside(settings.broker_url, settings.result_backend)
        self.runs_expire_s = settings.result_expires
        self.hand_off_key = layout.hand_off_key(self.holder) if self.holder else ""
        self._taken: dict[str, bytes] = {}  # delivery tag -> the message as taken, until claimed
        self._sent: str | None = None  # the command in flight: "TAKE", "WAIT" (BLMOVE on _waited_on) or kombu's BRPOP
        self._waited_on = ""
        self._wait_next = False  # the last take found nothing: block next
        self._returned_own = False
        self._seen_waiting = False  # its hand-off list held something at the last sweep

    # --- taking ----------------------------------------------------------------------

    def _hand_off(self) -> bool:
        return (self.holder is not None and not self.global_keyprefix
                and not any(layout.is_reply_queue(q) for q in self.active_queues))

    def _brpop_start(self, timeout: float | None = None) -> None:
        if not self._hand_off():
            self._sent = "BRPOP"
            return super()._brpop_start(timeout)
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        if not self._returned_own:  # what a previous life of this worker (or connection) left taken
            self._returned_own = True
            self._put_back_own("before taking its first job")
        lists = list(dict.fromkeys(self._q_for_pri(queue, pri) for pri in self.priority_steps for queue in queues))
        if self._wait_next:
            self._waited_on, seconds = wait_plan(lists, len(queues), self.brpop_timeout if timeout is None else timeout)
            self._sent, command = "WAIT", ["BLMOVE", self._waited_on, self.hand_off_key, "RIGHT", "LEFT", seconds]
        else:
            self._sent, command = "TAKE", ["EVAL", layout.TAKE, len(lists) + 2, *lists, self.hand_off_key,
                                           layout.TAKERS, self.holder, time.time()]
        self._in_poll = self.client.connection
        self._brpop_sent_at = kombu_redis.monotonic()
        self.client.connection.send_command(*command)

    def _brpop_read(self, **options: Any) -> bool:
        if self._sent not in ("TAKE", "WAIT"):
            return self._plain_brpop_read(**options)
        sent, self._sent = self._sent, None
        try:
            try:
                reply = self.client.parse_response(self.client.connection, "EVAL", **options)
            except self.connection_errors:
                self.client.connection.disconnect()  # reconnect on the next iteration
                raise
            self._wait_next = not reply and sent == "TAKE"  # nothing to take: wait; a wait timed out: take again
            if not reply:
                raise kombu_redis.Empty()
            source, item = (self._waited_on, reply) if sent == "WAIT" else reply
            self._deliver_taken(layout.list_queue(bytes_to_str(source), self.sep), item)
            return True
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    def _deliver_taken(self, queue: str, item: bytes) -> None:
        """Hand a job from the hand-off list to Celery, which claims it (QoS.append) before it runs."""
        self._queue_cycle.rotate(queue)
        message = self._job_or_aside(queue, item, taken=True)
        if message is None:
            return
        if queue not in self.connection._callbacks:  # its consumer was cancelled meanwhile
            self._put_back_own("its queue no longer consumed")
            return
        tag = message["properties"]["delivery_tag"]
        self._taken[tag] = item
        try:
            self.connection._deliver(message, queue)
        except TakenBack:
            log.warning("a job taken by %s was put back before it could claim it (fenced off, or seen as gone): "
                        "dropped here, it waits in %s for another worker", self.holder, queue)
        finally:
            if self._taken.pop(tag, None) is not None:  # never reached the claim: nothing holds it but the list
                self._put_back_own("as it could not be handed to Celery")

    def _plain_brpop_read(self, **options: Any) -> bool:
        # kombu 5.7's own _brpop_read, with the decoding checked before the message is delivered.
        self._sent = None
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()  # reconnect on the next iteration
                raise
            if not dest__item:
                raise kombu_redis.Empty()
            dest, item = dest__item
            dest = layout.list_queue(bytes_to_str(dest), self.sep)
            self._queue_cycle.rotate(dest)
            message = self._job_or_aside(dest, item)
            if message is not None:
                self.connection._deliver(message, dest)
            return True
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    # --- putting back ----------------------------------------------------------------

    def _put_back_own(self, when: str) -> None:
        """What this worker's hand-off list holds back into the queues: nothing of it is claimed."""
        try:
            with self.conn_or_acquire() as client:
                moved = layout.put_back_taken(self, client, self.holder)
        except self.connection_errors as exc:  # Redis away: the recovery service or the next open does it
            log.warning("could not put back the jobs %s had taken (%s): they wait in %s", self.holder, exc,
                        self.hand_off_key)
            return
        if moved:
            log.warning("%s put back %d job(s) it had taken but not claimed, %s", self.holder, len(moved), when)

    def note_put_back(self, messages: list[Any]) -> None:
        """Mark interrupted (runs.PUT_BACK) the runs its claims recorded of these jobs, which it is
        about to put back (one round trip, into the results' database)."""
        if self.holder is None or self.runs_db is None:
            return
        entries = {}
        for message in messages:
            claimed = runs.Claimed.from_header(message.headers.get(runs.CLAIM_HEADER))
            task_id = message.headers.get("id")
            if claimed is not None and isinstance(task_id, str):
                entries[runs.key(task_id)] = runs.interruption(self.holder, claimed.run.started_at, runs.PUT_BACK,
                                                               utc_now())
        if not entries:
            return
        try:
            with self.conn_or_acquire() as client:
                client.eval(runs.APPEND_IN, len(entries), *entries, self.runs_db, self.runs_expire_s,
                            *entries.values())
        except self.connection_errors as exc:  # Redis away: the jobs go back all the same, if it is back
            log.warning("%s could not mark the runs of %d job(s) it puts back (%s)", self.holder, len(entries), exc)

    def put_back_stuck(self) -> None:
        """Its own hand-off list, if it held something at two sweeps in a row (seconds apart, where a
        take is claimed within milliseconds): a reply lost with a dropped connection (kombu drops one
        whose BRPOP-like reply is overdue) while Redis still moved the job. Putting back a job that is
        about to be claimed only makes the claim fail (TakenBack): it goes back, never twice."""
        if not self._returned_own:
            return
        try:
            with self.conn_or_acquire() as client:
                waiting = client.llen(self.hand_off_key)
        except self.connection_errors:
            return
        if waiting and self._seen_waiting:
            self._put_back_own("left in its list after a lost reply")
        self._seen_waiting = bool(waiting)

    def put_back_abandoned(self) -> None:
        """The backstop with no recovery service: a hand-off list whose worker last took longer than
        the visibility timeout ago is abandoned (a live worker claims within milliseconds)."""
        try:
            with self.conn_or_acquire() as client:
                for node in layout.takers(client, before=time.time() - self.visibility_timeout):
                    if node == self.holder:
                        continue
                    if moved := layout.put_back_taken(self, client, node):
                        log.warning("%d job(s) taken by %s, silent for more than %d s, put back", len(moved), node,
                                    self.visibility_timeout)
                    client.zrem(layout.TAKERS, node)  # a live one adds itself again as it takes
        except self.connection_errors:
            pass  # the next sweep

    def close(self) -> None:
        if self._in_poll and self._sent in ("TAKE", "WAIT") and not self.closed:
            # A reply on its way (maybe a job, taken into the hand-off list): read and leave it; put back below.
            self._sent = None
            try:
                self.client.parse_response(self.client.connection, "EVAL")
            except Exception:  # noqa: BLE001  (a broken connection: the job is in Redis all the same)
                pass
            self._in_poll = None
        if self._returned_own and not self.closed:
            self._put_back_own("as it stopped")
        super().close()

    # --- junk ------------------------------------------------------------------------

    def _job_or_aside(self, queue: str, item: bytes, taken: bool = False) -> dict[str, Any] | None:
        """The decoded message, or None once it is set aside in the queue's dead-letter list
        (out of this worker's hand-off list in the same step, if it was `taken` through it)."""
        try:
            payload = loads(bytes_to_str(item))
            why = why_not_a_task(payload, reply=layout.is_reply_queue(queue))
            if why is None:
                self.Message(payload, channel=self)  # what kombu does next: the body must decode
        except Exception as exc:  # noqa: BLE001  (whatever junk makes kombu raise)
            why = f"{type(exc).__name__}: {exc}"[:200]
        if why is None:
            return payload
        dead = layout.dead_letter_key(queue)
        with self.conn_or_acquire() as client:
            pipe = client.pipeline()
            if taken:
                pipe.lrem(self.hand_off_key, -1, item)
            pipe.lpush(dead, item).ltrim(dead, 0, layout.DEAD_LETTER_MAX - 1).execute()
        log.error("set aside a message on %s that is not a job (%s): %d bytes moved to %s", queue, why, len(item),
                  dead)
        return None


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with the Channel above."""

    Channel = Channel
