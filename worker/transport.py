"""kombu's Redis transport, with junk on a queue set aside instead of obeyed.

A worker takes a job with BRPOP and hands the bytes to kombu, which decodes them; bytes that
are not JSON, or JSON that is not a Celery task message, raise inside kombu's read and take
the worker's connection down (measured: 20 junk messages, 20 worker restarts with
"Unrecoverable error: JSONDecodeError"). Anyone who can push to the queue could stop the
cluster that way. Here such a message goes to the queue's dead-letter list (`<queue>.dead`,
in the broker database) with one log line, and the worker goes on; `producer status` counts
them.

What counts as a task message is what the worker could run: a kombu message (properties with
a delivery tag and delivery info, a body kombu can decode) whose headers name a task and an id
(Celery's message protocol 2). Anything else is set aside. A task message whose content type
is refused (pickle) still reaches Celery, which drops it and logs ContentDisallowed.

Settings: `broker_transport = "worker.transport:Transport"` (worker/config.py); the URL keeps
its redis:// or rediss:// scheme.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

log = logging.getLogger("worker.transport")

#: The suffix of a queue's dead-letter list: jobs -> jobs.dead.
DEAD_LETTER_SUFFIX = ".dead"
#: Entries a dead-letter list keeps (the newest): set aside, not a way to fill Redis.
DEAD_LETTER_MAX = 1000


def dead_letter_key(queue: str) -> str:
    """The Redis list where junk found on `queue` is set aside."""
    return f"{queue}{DEAD_LETTER_SUFFIX}"


def is_reply_queue(queue: str) -> bool:
    """Remote control's reply queues (`<uuid>.reply.celery.pidbox`) carry answers, not tasks."""
    return queue.endswith(".pidbox")


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


class Channel(kombu_redis.Channel):
    """kombu's Redis channel; a message that cannot be a job is set aside as it is read."""

    def _brpop_read(self, **options: Any) -> bool:
        # kombu 5.7's own _brpop_read, with the decoding checked before the message is delivered.
        try:
            try:
                dest__item = self.client.parse_response(self.client.connection, "BRPOP", **options)
            except self.connection_errors:
                self.client.connection.disconnect()  # reconnect on the next iteration
                raise
            if not dest__item:
                raise kombu_redis.Empty()
            dest, item = dest__item
            dest = bytes_to_str(dest).rsplit(self.sep, 1)[0]
            self._queue_cycle.rotate(dest)
            message = self._job_or_aside(dest, item)
            if message is not None:
                self.connection._deliver(message, dest)
            return True
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    def _job_or_aside(self, queue: str, item: bytes) -> dict[str, Any] | None:
        """The decoded message, or None once it is set aside in the queue's dead-letter list."""
        try:
            payload = loads(bytes_to_str(item))
            why = why_not_a_task(payload, reply=is_reply_queue(queue))
            if why is None:
                self.Message(payload, channel=self)  # what kombu does next: the body must decode
        except Exception as exc:  # noqa: BLE001  (whatever junk makes kombu raise)
            why = f"{type(exc).__name__}: {exc}"[:200]
        if why is None:
            return payload
        with self.conn_or_acquire() as client:
            client.pipeline().lpush(dead_letter_key(queue), item).ltrim(dead_letter_key(queue), 0,
                                                                        DEAD_LETTER_MAX - 1).execute()
        log.error("set aside a message on %s that is not a job (%s): %d bytes moved to %s", queue, why, len(item),
                  dead_letter_key(queue))
        return None


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with the Channel above."""

    Channel = Channel
