"""Where jobs are in Redis: kombu's layout of the broker database, and the hand-off lists beside it.

The one module that knows the names; every other part asks it (the transport, the queue
readers, the producer's look for lost jobs, the recovery service). kombu's own names are read
from kombu's Redis channel, not copied: `tests/unit/test_layout.py` fails if an upgrade moves
one, instead of jobs going missing quietly.

A job's way through the broker database (db 0), each step one atomic Redis step:

1. waiting: in its queue's list, `jobs` (and kombu's priority lists `jobs\\x06\\x163`, ...),
   pushed by any Celery client (LPUSH);
2. taken: moved by a worker into its hand-off list, `unacked.taken:<node>` (LMOVE inside
   the TAKE script, or BLMOVE while it waits): it never exists only in a socket or a
   process's memory, so a worker that dies, freezes or is cut off with a job on its way to
   it loses nothing. Redis >= 6.2 (BLMOVE; the ACL files want 7);
3. held: moved by the CLAIM script out of the hand-off list into kombu's `unacked` hash
   and `unacked_index` (what kombu's QoS writes itself), only if it is still in the
   hand-off list. The `unacked` entry names its holder (`claimed_by`: node, pid and the
   claim's time, the same as its `unacked_index` score), so who holds what is read from
   the broker, not from task events (`claimant`): a job put back meanwhile (the worker fenced, gone, restarted) is not
   claimed, and the worker drops its copy. The same step appends the run's start to the
   job's run list in the results database (worker/runs.py; Lua's SELECT, when the results
   live on the same server);
4. done: acknowledged (kombu's HDEL/ZREM), or put back into its queue.

`unacked.takers` (a sorted set: node -> when it last started to take) names every worker
that may have a hand-off list, so a worker nobody ever heard of is found too. What a gone
worker had taken goes back with `put_back_taken`, called by the recovery service (a worker
gone, fenced, restarted), the worker itself (when its channel opens and closes) and, as a
backstop when no recovery service runs, every worker's sweep for lists older than the
visibility timeout.

Junk (a message that cannot be a job) goes to `<queue>.dead`; results and run lists live
in the results database (`celery-task-meta-<id>`, worker/runs.py's `runs:<id>`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from kombu.transport.redis import PRIORITY_STEPS
from kombu.transport.redis import Channel as _KombuChannel

#: kombu's separator between a queue and its priority step.
SEP: str = _KombuChannel.sep
#: kombu's hash of delivered, unacknowledged messages (tag -> [message, exchange, routing key]).
UNACKED: str = _KombuChannel.unacked_key
#: kombu's sorted set of the same tags, scored by when they were delivered (kombu's clock).
UNACKED_INDEX: str = _KombuChannel.unacked_index_key
#: A worker's hand-off list: jobs it took and has not claimed yet (the newest at the head).
HAND_OFF_PREFIX = f"{UNACKED}.taken:"
#: Workers that may hold a hand-off list: node -> when it last started to take (time.time()).
TAKERS = f"{UNACKED}.takers"
#: kombu's bindings of an exchange (`_kombu.binding.<exchange>`): a set of `routing key SEP pattern SEP queue`.
BINDINGS: str = _KombuChannel.keyprefix_queue
#: The suffix of a queue's dead-letter list: jobs -> jobs.dead.
DEAD_LETTER_SUFFIX = ".dead"
#: Entries a dead-letter list keeps (the newest): set aside, not a way to fill Redis.
DEAD_LETTER_MAX = 1000


def bound_queues(client: Any, exchange: str) -> list[str]:
    """The queues bound to `exchange` now (kombu's binding set), e.g. each worker's remote-control
    queue `<node>.celery.pidbox` on the exchange `celery.pidbox`."""
    members = client.smembers(BINDINGS % exchange)
    return sorted((m.decode() if isinstance(m, bytes) else m).split(SEP)[-1] for m in members)


def queue_lists(queue: str, steps: Iterable[int] = PRIORITY_STEPS, sep: str = SEP) -> list[str]:
    """The Redis lists behind a queue, one per priority step, named as kombu's `Channel._q_for_pri`
    names them: the queue itself for priority 0, `<queue><sep><step>` for the others."""
    return list(dict.fromkeys(f"{queue}{sep}{step}" if step else queue for step in steps))


def list_queue(name: str, sep: str = SEP) -> str:
    """The queue a list belongs to (its priority step cut off), as kombu reads BRPOP's answer."""
    return name.rsplit(sep, 1)[0]


def hand_off_key(node: str) -> str:
    """The list of jobs `node` took and has not claimed yet."""
    return f"{HAND_OFF_PREFIX}{node}"


def dead_letter_key(queue: str) -> str:
    """The Redis list where junk found on `queue` is set aside."""
    return f"{queue}{DEAD_LETTER_SUFFIX}"


def is_reply_queue(queue: str) -> bool:
    """Remote control's reply queues (`<uuid>.reply.celery.pidbox`) carry answers, not tasks."""
    return queue.endswith(".pidbox")


def task_id(raw: bytes | str) -> str | None:
    """The Celery task id of a message as it waits in a queue (protocol 2: `headers.id`); None for junk."""
    try:
        found = json.loads(raw)["headers"]["id"]
    except (ValueError, KeyError, TypeError):
        return None
    return found if isinstance(found, str) else None


def unacked_task_id(raw: bytes | str) -> str | None:
    """The task id of an `unacked` hash value ([message, exchange, routing key]); None for anything else."""
    try:
        found = json.loads(raw)[0]["headers"]["id"]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return found if isinstance(found, str) else None


#: The message property of an `unacked` entry that names its holder: [node, pid, when claimed].
CLAIMED_BY = "claimed_by"


def unacked_entry(payload: dict[str, Any], holder: tuple[str, int, float] | None = None) -> str:
    """The `unacked` hash value kombu's QoS.append writes for a message (its JSON, as kombu dumps it);
    with `holder` (node, pid, when), the message's properties name who claimed it (CLAIMED_BY)."""
    info = payload["properties"]["delivery_info"]
    if holder is not None:
        payload = {**payload, "properties": {**payload["properties"], CLAIMED_BY: list(holder)}}
    return json.dumps([payload, info["exchange"], info["routing_key"]])


def claimant(raw: bytes | str, delivered: float | None) -> tuple[str, int] | None:
    """Who holds an `unacked` entry (node, pid), if a claim wrote it; None for anything else.

    The name counts only if its time is the entry's `unacked_index` score (`delivered`): a
    message put back by kombu's own restore keeps the property, and a worker that takes it
    with kombu's plain BRPOP writes the entry again with a new score and no new name.
    """
    try:
        message = json.loads(raw)[0]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return claimed_by(message, delivered)


def claimed_by(message: Any, delivered: float | None) -> tuple[str, int] | None:
    """`claimant` of an entry's message already decoded (the first of [message, exchange, routing key])."""
    try:
        node, pid, at = message["properties"][CLAIMED_BY]
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    if not isinstance(node, str) or not isinstance(pid, int) or not isinstance(at, (int, float)) \
            or delivered is None or abs(at - delivered) > 1e-3:
        return None
    return node, pid


#: Take the first job waiting in KEYS[1..n-2] (kombu's BRPOP order: priority, then queue)
#: into the worker's hand-off list KEYS[n-1], and note in the takers' set KEYS[n] that this
#: worker (ARGV[1]) takes, and since when (ARGV[2]). Returns {list, message} or nil.
TAKE = """
local into = KEYS[#KEYS - 1]
redis.call('ZADD', KEYS[#KEYS], ARGV[2], ARGV[1])
for i = 1, #KEYS - 2 do
  local item = redis.call('LMOVE', KEYS[i], into, 'RIGHT', 'LEFT')
  if item then return {KEYS[i], item} end
end
return false
"""

#: Claim a taken message: out of the hand-off list KEYS[1] into `unacked` KEYS[2] and
#: `unacked_index` KEYS[3], only if it is still there (ARGV: the message as taken, its
#: delivery tag, the time, the `unacked` entry). With a run list KEYS[4] in database ARGV[5]
#: (the results', on the same server), the run's start (ARGV[6]) is appended to it in the same
#: step (kept ARGV[7] s; worker/runs.py). Returns {0} if it was put back meanwhile, else {1}, or
#: {1, the run list's entries before this start}.
CLAIM = """
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return {0} end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
if #KEYS < 4 then return {1} end
redis.call('SELECT', ARGV[5])
local before = redis.call('LRANGE', KEYS[4], 0, -1)
redis.call('RPUSH', KEYS[4], ARGV[6])
redis.call('EXPIRE', KEYS[4], ARGV[7])
return {1, before}
"""


def claim(client: Any, node: str, raw: bytes, payload: dict[str, Any], at: float,
          run_list: tuple[str, int, str, int] | None = None, pid: int | None = None) -> list[bytes] | None:
    """Claim the message `raw` (decoded: `payload`) `node` took (CLAIM, one round trip); None if it was
    put back meanwhile. With `run_list` (its key, database, the start entry, seconds kept), the run's
    start goes in too; returns the entries recorded before it (empty without one). With `pid` (the
    worker process's), the `unacked` entry names its holder (CLAIMED_BY)."""
    tag = payload["properties"]["delivery_tag"]
    entry = unacked_entry(payload, None if pid is None else (node, pid, at))
    keys, args = [hand_off_key(node), UNACKED, UNACKED_INDEX], [raw, tag, at, entry]
    if run_list is not None:
        key, db, start, expires_s = run_list
        keys.append(key)
        args += [db, start, expires_s]
    claimed, *before = client.eval(CLAIM, len(keys), *keys, *args)
    return (before[0] if before else []) if claimed else None


def restorable(raw: bytes | str) -> dict[str, Any] | None:
    """The message, if it can go back into a queue (JSON with kombu's delivery info); None for junk."""
    try:
        payload = json.loads(raw)
        info = payload["properties"]["delivery_info"]
        if isinstance(info["exchange"], str) and isinstance(info["routing_key"], str):
            return payload
    except (ValueError, KeyError, TypeError):
        pass
    return None


def put_back_taken(chan: Any, client: Any, node: str) -> list[bytes]:
    """Everything in `node`'s hand-off list back into its queue (the head: taken next), in one
    WATCH/MULTI transaction on `client`, marked redelivered as kombu's own restore marks it (kombu's
    channel `chan` finds each message's queue); returns what went back. A message the worker
    claims meanwhile makes the transaction start again, so a job is either claimed or put back,
    never both. Junk goes to the list's dead letters."""
    key = hand_off_key(node)
    moved: list[bytes] = []

    def transaction(pipe: Any) -> None:
        items = pipe.lrange(key, 0, -1)  # the newest first: pushed to the head in turn, the oldest ends first
        pipe.multi()
        pipe.delete(key)
        moved[:] = items
        for raw in items:
            payload = restorable(raw)
            if payload is None:
                pipe.lpush(dead_letter_key(key), raw)
                continue
            info = payload["properties"]["delivery_info"]
            chan._do_restore_message(payload, info["exchange"], info["routing_key"], pipe, False)

    client.transaction(transaction, key)
    return moved


def put_back_unacked(chan: Any, client: Any, tag: str) -> None:
    """kombu's QoS.restore_by_tag (one WATCH/MULTI transaction: out of `unacked` and its index,
    back into its queue, marked redelivered), with a fresh delivery tag on the message: the worker
    that held it, should it come back (a healed network, a thawed container), can then neither
    acknowledge nor put back the copy another worker now holds under the old tag."""

    def transaction(pipe: Any) -> None:
        raw = pipe.hget(UNACKED, tag)
        pipe.multi()
        pipe.zrem(UNACKED_INDEX, tag)
        pipe.hdel(UNACKED, tag)
        if raw:
            message, exchange, routing_key = json.loads(raw)
            message["properties"]["delivery_tag"] = str(uuid.uuid4())
            message["properties"].pop(CLAIMED_BY, None)
            chan._do_restore_message(message, exchange, routing_key, pipe, False)

    client.transaction(transaction, UNACKED)


def takers(client: Any, before: float | None = None) -> list[str]:
    """Workers that may hold a hand-off list (with `before`: that last started to take before then)."""
    high = "+inf" if before is None else f"({before}"
    return [n.decode() if isinstance(n, bytes) else str(n) for n in client.zrangebyscore(TAKERS, "-inf", high)]


def taken_task_ids(client: Any) -> set[str]:
    """Task ids in every worker's hand-off list: taken, not yet claimed (nor lost)."""
    names = takers(client)
    if not names:
        return set()
    pipe = client.pipeline(transaction=False)
    for node in names:
        pipe.lrange(hand_off_key(node), 0, -1)
    return {t for items in pipe.execute() for raw in items if (t := task_id(raw)) is not None}
