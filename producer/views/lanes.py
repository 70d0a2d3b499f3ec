"""The live view's layout: an events Snapshot in, lanes of bars in character columns out.

Pure (no I/O, no clock of its own: `now` is passed in), so it is unit-tested from synthetic
events. One lane per worker slot: (node, pid) as the worker's task-started events name it,
and, where one pid runs several jobs at once (threads, gevent, prefork with concurrency > 1),
one sub-lane per job running at the same time, each job on the first sub-lane free, so bars
never overprint. Columns, ticks and what a bar says come from `producer.views.axis`, as for
the run's timeline. `producer.views.live` draws the result with rich on a terminal,
`producer.views.svg_lanes` as a picture in a notebook's output: one layout, two renderings.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from operator import itemgetter

from celery import states

from cluster.events import Attempt, Snapshot, TaskFacts, WorkerFacts
from producer.views.axis import FAILED, Axis, bar_text

RETRIED = "↺"  # the job raised a transient error and will run again
REDELIVERED = "↻"  # the job runs again after its worker was lost


@dataclass(frozen=True)
class Segment:
    """One job's bar in a lane: columns [start, end), what to write, and how it ended."""

    start: int
    end: int
    text: str
    kind: str  # running, succeeded, failed, retried, lost
    task_id: str = ""


@dataclass
class Lane:
    """One worker slot; `status` is alive, dead (heartbeats stopped) or offline (left cleanly)."""

    node: str
    pid: int | None
    sub: int
    label: str
    status: str
    segments: list[Segment] = field(default_factory=list)

    def text(self, width: int) -> str:
        """The lane's bars as plain text, `width` columns (what a test or a plain terminal sees)."""
        cells = [" "] * width
        for seg in self.segments:
            for i, ch in enumerate(seg.text[: max(0, min(seg.end, width) - seg.start)]):
                cells[seg.start + i] = ch
        return "".join(cells)


@dataclass
class LiveView:
    """Everything `producer.views.live` draws for one frame."""

    lanes: list[Lane]
    columns: int  # bar columns
    label_width: int
    window_start: float
    span_s: float
    ticks: list[tuple[int, str]]
    waiting: int  # sent or received, not started yet
    running: int
    succeeded: int
    failed: int
    retried: int
    redelivered: int
    workers_alive: int
    workers_dead: int
    hidden_lanes: int = 0


HEADLINE_GAP = "  "  # between the header's pieces, in every rendering that writes them as text


@dataclass(frozen=True)
class Frame:
    """One frame's facts: the lanes, and what the line above them says (what runs, the queues, the broker)."""

    view: LiveView
    title: str  # `run 1.5 s`, `watch last 20 s`
    depths: dict[str, int] | None  # jobs waiting in each queue; None while Redis does not answer
    connected: bool  # whether the cluster's events flow
    error: str | None = None  # why they do not

    def headline_text(self) -> str:
        """The header's pieces as one plain line, as the terminal writes them (`producer.views.live.header`)."""
        return HEADLINE_GAP.join(text for text, _ in self.headline())

    def headline(self) -> list[tuple[str, str]]:
        """The header's pieces, each with its kind (title, queue, waiting, running, succeeded, failed, retried,
        redelivered), so each rendering marks them its own way: rich's styles, the picture's swatches."""
        view = self.view
        pieces = [(self.title, "title")]
        if self.depths:  # none asked (a quiz's scenes each have their own) or none read: nothing to say
            pieces.append(("queue " + " ".join(f"{q} {n}" for q, n in self.depths.items()), "queue"))
        pieces += [(f"waiting {view.waiting}", "waiting"), (f"running {view.running}", "running"),
                   (f"done {view.succeeded}", "succeeded")]
        pieces += [(f"{word} {n}", kind) for word, n, kind in (("failed", view.failed, "failed"),
                                                                ("retried", view.retried, "retried"),
                                                                ("redelivered", view.redelivered, "redelivered")) if n]
        return pieces

    def trouble(self) -> str | None:
        """The line under the header while Redis is away (events stopped, or the queue's depth unread)."""
        if self.connected and self.depths is not None:
            return None
        return f"broker unreachable, reconnecting… {self.error or ''}".rstrip()


def short_names(nodes: list[str]) -> dict[str, str]:
    """Node names without the part they all share: `it-1@host`, `it-2@host` -> `it-1`, `it-2`."""
    names = {n.partition("@")[0] for n in nodes}
    hosts = {n.partition("@")[2] for n in nodes}
    if len(nodes) > 1 and len(hosts) == 1:
        return {n: n.partition("@")[0] for n in nodes}
    if len(nodes) > 1 and len(names) == 1:
        return {n: n.partition("@")[2] or n for n in nodes}
    return {n: n for n in nodes}


def fit(text: str, width: int) -> str:
    """`text` in at most `width` characters, cut in the middle (container ids differ anywhere)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:max(0, width)]  # text[:-2] would be nearly all of it
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


#: A run of a slot: when it started and ended (or `now`), its kind (Segment.kind), its task, whether it was redelivered.
RunT = tuple[float, float, str, TaskFacts, bool]
#: A run placed on a lane: its sub-lane, its columns [start, end), and the run.
PlacedT = tuple[int, tuple[int, int], RunT]


def _slot_of(runs: list[RunT]) -> list[int]:
    """Sub-lane of each run (sorted by start): the first whose last job ended before it started."""
    ends: list[float] = []
    slots = []
    for started, end, *_ in runs:
        for i, busy_until in enumerate(ends):
            if busy_until <= started:
                ends[i] = end
                slots.append(i)
                break
        else:
            ends.append(end)
            slots.append(len(ends) - 1)
    return slots


def _open_run_end(run: Attempt, worker: WorkerFacts | None, now: float, next_start: float | None) -> tuple[float, str]:
    """When a run that told no end ended (or `now` while it runs) and how; a dead worker's job ended when it went
    silent (its last heartbeat, or its goodbye: a worker that left cleanly has no heartbeats any more)."""
    worker_dead = worker is not None and not worker.alive
    if run.end == "lost" or worker_dead:
        silent_since = worker.silent_since if worker is not None else None
        candidates = [t for t in (silent_since, next_start, now) if t is not None and t >= run.started]
        return min(candidates, default=run.started), "lost"
    return now, "running"


def _segment_text(task: TaskFacts, kind: str, length: int, redelivered: bool) -> str:
    mark = {"failed": FAILED, "lost": FAILED, "retried": RETRIED}.get(kind, "")
    return bar_text(task.name or "?", length, lead=REDELIVERED if redelivered else "", mark=mark)


def _drawn_over_left_out(placed: list[PlacedT]) -> list[PlacedT]:
    """The runs placed on a slot's sub-lanes (in order) less those whose every column a later run of their sub-lane
    covers: drawn, they would be overprinted whole (`Lane.text`; the notebook's `svg_lanes.visible`). Under load
    a column holds several short jobs: a frame lays out the few a reader can see, not the thousands it holds."""
    covered: dict[int, set[int]] = defaultdict(set)
    kept = []
    for item in reversed(placed):
        sub, (a, b), _ = item
        over = covered[sub]
        if b - a == 1:  # most bars under load: one column, one lookup
            if a in over:
                continue
            over.add(a)
        else:
            columns = range(a, b)
            if over.issuperset(columns):
                continue
            over.update(columns)
        kept.append(item)
    kept.reverse()
    return kept


def lanes(snap: Snapshot, now: float, window_s: float, width: int, start: float | None = None,
          max_lanes: int | None = None) -> LiveView:
    """Lay the snapshot out in `width` columns: lanes of bars over a time window.

    With `start`, the window is [start, start + window_s] (a run, filling up from the left);
    without, it is the last `window_s` seconds up to `now`, scrolling (`watch`). Lanes of
    workers that left or died before the window are dropped; idle live workers get an empty
    lane. Past `max_lanes`, the lanes with the latest activity are kept.
    """
    window_start = start if start is not None else now - window_s
    window_end = window_start + window_s
    workers = {w.name: w for w in snap.workers}

    # every attempt, with its end, keyed by the slot that ran it
    # and the header's counts, in the same one pass over the tasks (a frame under load holds thousands)
    by_slot: dict[tuple[str, int | None], list[RunT]] = defaultdict(list)
    states_seen: Counter[str] = Counter()
    running = retried = redelivered_tasks = 0
    for task in snap.tasks:
        states_seen[task.state] += 1
        runs = task.runs
        last = len(runs) - 1
        after_loss = task_retried = task_redelivered = False  # the run before this one was lost or rejected
        for i, run in enumerate(runs):
            if run.end is not None and run.ended is not None:  # it told its end
                end, kind = run.ended, run.end
            else:
                end, kind = _open_run_end(run, workers.get(run.node), now, runs[i + 1].started if i < last else None)
                running += kind == "running"
            by_slot[(run.node, run.pid)].append((run.started, end, kind, task, after_loss))
            task_redelivered = task_redelivered or after_loss
            task_retried = task_retried or run.end == "retried"
            after_loss = run.end in ("lost", "rejected")
        retried += task_retried
        redelivered_tasks += task_redelivered

    nodes = sorted({node for node, _ in by_slot} | set(workers))
    short = short_names(nodes)
    label_width = min(max((len(short[n]) + 8 for n in nodes), default=12), max(12, width // 4))
    columns = max(1, width - label_width - 1)
    axis = Axis(window_start, window_s, columns)

    def status(node: str) -> str:
        w = workers.get(node)
        return "unknown" if w is None else "alive" if w.alive else "offline" if w.offline else "dead"

    pids_of: dict[str, set[int | None]] = defaultdict(set)
    for node, pid in by_slot:
        pids_of[node].add(pid)

    def label(node: str, pid: int | None, sub: int) -> str:
        # the event's pid is the worker's main process (not the pool process the result record names):
        # shown only to tell apart two processes under one node name (a worker restarted with that name)
        suffix = (f" {pid}" if pid is not None and len(pids_of[node]) > 1 else "") + (f"/{sub + 1}" if sub else "")
        state = {"dead": " dead", "offline": " left"}.get(status(node), "")
        return fit(short[node], label_width - len(suffix) - len(state)) + suffix + state

    built: list[tuple[float, Lane]] = []
    slotted: set[str] = set()
    for (node, pid), items in by_slot.items():
        items.sort(key=itemgetter(0))  # by start; stable, so runs that started together keep their order
        subs = _slot_of(items)
        latest: dict[int, float] = {}
        placed = []  # (sub-lane, columns, the run) of each run in the window, in order
        for item, sub in zip(items, subs, strict=True):
            started, end = item[0], item[1]
            if end < window_start or started > window_end:
                continue
            placed.append((sub, axis.bar(started, end), item))
            if sub not in latest or end > latest[sub]:
                latest[sub] = end
        lanes_here: dict[int, Lane] = {}
        for sub, (a, b), (_, _, kind, task, redelivered) in _drawn_over_left_out(placed):
            lane = lanes_here.get(sub)
            if lane is None:
                lane = lanes_here[sub] = Lane(node, pid, sub, label(node, pid, sub), status(node))
            lane.segments.append(Segment(a, b, _segment_text(task, kind, b - a, redelivered), kind, task.id))
        for sub, lane in lanes_here.items():
            built.append((latest[sub], lane))
            slotted.add(node)
    for node, w in workers.items():  # workers with nothing in the window: an empty lane while they matter
        recent = w.last_heartbeat is not None and w.last_heartbeat >= window_start
        if node not in slotted and (w.alive or recent):
            built.append((w.last_heartbeat or 0.0, Lane(node, w.pid, 0, label(node, w.pid, 0), status(node))))

    hidden = 0
    if max_lanes is not None and len(built) > max_lanes:
        hidden = len(built) - max_lanes
        built = sorted(built, key=lambda item: item[0], reverse=True)[:max_lanes]
    view_lanes = sorted((lane for _, lane in built), key=lambda ln: (ln.node.partition("@")[2], ln.node,
                                                                        ln.pid or 0, ln.sub))

    return LiveView(
        lanes=view_lanes, columns=columns, label_width=label_width, window_start=window_start, span_s=window_s,
        ticks=axis.ticks(relative_to_end=start is None),
        # Celery's own states (celery.states), as its events tell
        waiting=states_seen[states.PENDING] + states_seen[states.RECEIVED] + states_seen[states.RETRY],
        running=running,
        succeeded=states_seen[states.SUCCESS],
        failed=states_seen[states.FAILURE],
        retried=retried,
        redelivered=redelivered_tasks,
        workers_alive=sum(w.alive for w in snap.workers),
        workers_dead=sum(not w.alive and not w.offline for w in snap.workers),
        hidden_lanes=hidden,
    )
