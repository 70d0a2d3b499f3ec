"""Jobs of this batch that are nowhere in Redis, sent again under the same id: the last net.

The cluster's workers take a job by moving it atomically into a list that names them
(worker/layout.py's hand-off), so a job on its way to a worker that dies is never only in a
socket: the recovery service or the worker itself puts it back, whichever client sent it.
What is left for this net: a job that vanished from Redis anyway, e.g. workers of another
image taking with plain BRPOP (kombu's window between BRPOP and `unacked`), a restore whose
queue could not be found, a Redis that lost its last second of writes, or a hand that removed it.

The producer remembers every job it sent. While it waits, it looks every CHECK_EVERY_S seconds
for jobs of its own that have no result yet and are in no queue, in no hand-off list and not in
`unacked`; one still so GRACE_S later (long after any worker that took it would have written it
down) is sent again under the same id, and counted (`Outcome.resubmitted`, the summary's
`resubmitted`). Should the worker that took it come back after all, the job runs twice, and its
run list says so (worker.runs): never silently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from celery import Celery

from producer.jobs import Outcome, Status
from worker import layout

log = logging.getLogger("producer.inflight")

#: Seconds between two looks.
CHECK_EVERY_S = 2.0
#: Seconds a job must stay nowhere before it is sent again: a worker writes a job it took into
#: `unacked` within milliseconds, so this only ever waits for a frozen or dead one.
GRACE_S = 10.0
#: A queue longer than this is not read whole to find a job: the look waits until it is shorter.
SCAN_MAX = 20_000


def unacked_task_ids(entries: Iterable[Any]) -> set[str]:
    """Task ids in kombu's `unacked` hash values ([message, exchange, routing key]); others skipped."""
    return {t for raw in entries if (t := layout.unacked_task_id(raw)) is not None}


def nowhere(pending: Iterable[Outcome], queued: set[str], unacked: set[str]) -> list[Outcome]:
    """Pending jobs that are neither waiting in a queue nor held unacknowledged by a worker."""
    return [o for o in pending if o.task_id not in queued and o.task_id not in unacked]


def due(suspects: Mapping[str, float], now: float, grace_s: float) -> list[str]:
    """Task ids first found nowhere at least `grace_s` before `now`."""
    return [task_id for task_id, since in suspects.items() if now - since >= grace_s]


class InFlightWatch:
    """Looks for the batch's jobs lost in flight while the producer waits, and sends them again.

    Each job it sends again gets a new outcome in `outcomes`, one more `resubmitted`, put there under
    `lock`: the producer puts the results that arrive into `outcomes` too, from its own thread.
    """

    def __init__(self, app: Celery, outcomes: dict[str, Outcome], lock: threading.Lock, grace_s: float = GRACE_S,
                 every_s: float = CHECK_EVERY_S) -> None:
        self.app, self.outcomes, self.lock, self.grace_s, self.every_s = app, outcomes, lock, grace_s, every_s
        self.suspects: dict[str, float] = {}
        self.too_long_said = False
        self._connection: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="inflight-watch", daemon=True)

    def __enter__(self) -> InFlightWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.every_s):
                try:
                    self.check(time.monotonic())
                except Exception as exc:  # noqa: BLE001  (Redis away a moment: the wait reports that itself)
                    log.debug("in-flight check skipped: %s", exc)
                    self._close()
        finally:
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # noqa: BLE001  (closing a broken connection)
                pass
        self._connection = None

    @property
    def channel(self) -> Any:
        """A broker channel of the watch's own (kombu's connections are not shared across threads)."""
        if self._connection is None:
            self._connection = self.app.connection_for_write()
        return self._connection.default_channel

    def check(self, now: float) -> list[Outcome]:
        """One look; returns the new outcomes of the jobs it sent again."""
        pending = [o for o in list(self.outcomes.values()) if o.status == Status.PENDING]
        if not pending:
            self.suspects.clear()
            return []
        chan = self.channel
        client = chan.client
        names = [name for queue in sorted({o.job.queue for o in pending})
                 for name in layout.queue_lists(queue, chan.priority_steps, chan.sep)]
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.llen(name)
        pipe.hlen(chan.unacked_key)
        *lengths, held = pipe.execute()
        held += len(layout.taken_task_ids(client))
        if len(pending) <= sum(lengths) + held:  # each may be waiting or held: no need to look closer
            self.suspects.clear()
            return []
        if sum(lengths) > SCAN_MAX:
            if not self.too_long_said:
                log.warning("a queue holds more than %d jobs: the look for jobs lost in flight waits until it "
                            "is shorter", SCAN_MAX)
                self.too_long_said = True
            return []
        # In the order a job moves (the queue, a hand-off list, `unacked`): read so, it is seen in
        # one of them unless it really is in none at that moment.
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.lrange(name, 0, -1)
        queued = {layout.task_id(raw) for entries in pipe.execute() for raw in entries} - {None}
        taken = layout.taken_task_ids(client)  # the way a job goes: queue, hand-off list, `unacked`
        unacked = taken | unacked_task_ids(client.hvals(chan.unacked_key))
        lost = {o.task_id: o for o in nowhere(pending, queued, unacked)}
        self.suspects = {task_id: self.suspects.get(task_id, now) for task_id in lost}
        sent = []
        for task_id in due(self.suspects, now, self.grace_s):
            job = lost[task_id].job
            del self.suspects[task_id]
            # The batch is over (the producer no longer waits, and what it does next does not take
            # the lock): nothing is sent again. Or it finished while its result was on its way to us
            # (a reconnecting listener): not lost.
            if self._stop.is_set() or self.outcomes[task_id].status != Status.PENDING or self.app.backend.client.exists(
                    self.app.backend.get_key_for_task(task_id)):
                continue
            self.app.send_task(job.task, kwargs=job.kwargs, queue=job.queue, task_id=task_id)
            with self.lock:  # its result may have arrived meanwhile: count on the outcome as it is now
                latest = self.outcomes[task_id]
                self.outcomes[task_id] = resent = replace(latest, resubmitted=latest.resubmitted + 1)
            sent.append(resent)
        return sent
