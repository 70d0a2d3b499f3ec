"""How the suite's test processes share a 2-core machine: who runs beside whom, in what order,
and a record of it.

scripts/test runs the suite in several pytest-xdist processes, since most tests only wait
(jobs sleep, workers start, Redis restarts). Two kinds of lock and an order keep them from
spoiling each other's figures; the locks are files every process flocks, so none has to ask
another:

- the machine share (`sharing_the_machine`): every test holds a share; a test marked `alone`
  (CPU-bound jobs timed against each other) holds all of it, a readers-writer lock whose
  turnstile keeps the others from starving it. Work outside any test (a module fixture's
  compose `up`) takes a share too (`shared_outside_tests`);
- compose slots (`compose_slot`): at most COMPOSE_AT_ONCE compose projects at a time, each a
  handful of containers whose start-up and health checks must keep their time; a test waiting
  for a slot steps out of its share meanwhile (`stepped_out`), or an `alone` test waiting for
  the room and the slot's holder would wait for each other for ever;
- the order (`longest_first`): the longest files first (tests/durations.json), so no long file
  starts near the end.

Each test, each wait (for the room, for a slot), each slot held and each compose command is a
line of TEST_TIMELINE's file (`on_timeline`), which `python -m tests.run_timeline` reads:
where a run's time went, and the durations the order comes from. tests/conftest.py wires the
share, the order and the timeline into pytest; tests/compose_cluster.py, and the tests that run
compose projects of their own, take the slots.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest

#: The machine share this process holds now (its lock files and whether alone), so a test that
#: must wait for something else (a compose slot) can step out of the room meanwhile.
_here = threading.local()  # per thread, as the unit tests share the machine between threads


def _held() -> list[tuple[IO[str], IO[str], bool]]:
    if not hasattr(_here, "held"):
        _here.held = []
    return _here.held


def _enter(turnstile: IO[str], room: IO[str], alone: bool) -> None:
    with waiting("room"):
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if not alone:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)


def _leave(turnstile: IO[str], room: IO[str], alone: bool) -> None:
    fcntl.flock(room, fcntl.LOCK_UN)
    if alone:
        fcntl.flock(turnstile, fcntl.LOCK_UN)


@contextmanager
def sharing_the_machine(folder: Path, alone: bool) -> Iterator[None]:
    """Run a test beside others, or `alone` (no other test runs until it is done).

    A readers-writer lock on two files in `folder`, shared by the test processes: everyone
    passes through the turnstile; an `alone` test holds it while it waits for the room, so the
    others cannot keep it waiting for ever by coming and going.
    """
    with open(folder / "turnstile.lock", "a") as turnstile, open(folder / "room.lock", "a") as room:
        _enter(turnstile, room, alone)
        _held().append((turnstile, room, alone))
        try:
            yield
        finally:
            _held().pop()
            _leave(turnstile, room, alone)


#: The folder of the suite's machine-share locks, set by tests/conftest.py under xdist.
SHARE: dict[str, Path] = {}


@contextmanager
def shared_outside_tests() -> Iterator[None]:
    """A share of the machine for work outside any test (a module fixture's compose `up` and
    `down`), so that a test marked `alone` never runs beside it. Inside a test the test's own
    share covers it: a second one would wait at the turnstile behind an `alone` test that waits
    for the first."""
    if "folder" not in SHARE or _held():
        yield
        return
    with sharing_the_machine(SHARE["folder"], alone=False):
        yield


@contextmanager
def stepped_out() -> Iterator[None]:
    """Leave the machine share this process holds (if any) while waiting for something another
    process may hold while it waits for the share itself; come back in the same way after."""
    if not _held():
        yield
        return
    turnstile, room, alone = _held()[-1]
    _leave(turnstile, room, alone)
    try:
        yield
    finally:
        _enter(turnstile, room, alone)


#: Compose projects (or swarm stacks, or compose benchmarks) the test processes run at once: each
#: is a handful of containers whose start-up and health checks must keep their time on 2 cores.
COMPOSE_AT_ONCE = int(os.environ.get("TEST_COMPOSE_AT_ONCE", "2"))


def _take_slot(folder: Path, slots: int) -> IO[str] | None:
    """One of the slot files, locked for this process, or None when every slot is taken."""
    for slot in range(slots):
        lock = open(folder / f"{slot}.lock", "a")  # noqa: SIM115  (held open while the slot is ours)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            lock.close()
    return None


@contextmanager
def compose_slot(folder: Path | None = None, slots: int | None = None) -> Iterator[None]:
    """Wait for one of COMPOSE_AT_ONCE slots (lock files shared by every test process), hold it.

    While it waits, the test steps out of its machine share: the slot's holder may be waiting
    for the room (a test marked `alone`), and would otherwise wait for us for ever.
    """
    suites = folder is None  # the suite's slots go on the timeline, a unit test's own do not
    folder = folder or Path(tempfile.gettempdir()) / "cpd-test-compose-slots"
    folder.mkdir(exist_ok=True)
    lock = _take_slot(folder, slots or COMPOSE_AT_ONCE)
    if lock is None:
        with stepped_out(), waiting("slot") if suites else nullcontext():
            while (lock := _take_slot(folder, slots or COMPOSE_AT_ONCE)) is None:
                time.sleep(0.5)
    try:
        with on_timeline(slot=current_test()) if suites else nullcontext():
            yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


Item = TypeVar("Item", bound=pytest.Item)


def longest_first(items: list[Item], seconds: dict[str, float]) -> list[Item]:
    """`items` by their file's `seconds` (tests/durations.json), longest first; a file not in
    `seconds` counts as short. Stable: the files keep their order among equals, and each its tests'."""
    return sorted(items, key=lambda item: -seconds.get(item.nodeid.split("::")[0], 0))


def current_test() -> str:
    """The node id of the test this process runs now ('' outside a test)."""
    return os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]


def current_process() -> str:
    """This test process's name under xdist (gw0, gw1, ...), `main` in a serial run."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def waiting(what: str) -> AbstractContextManager[None]:
    """A wait of the current test (for the room, for a compose slot) on the timeline: time that
    is not the test's own (tests/run_timeline.py takes it out of the file's time)."""
    return on_timeline(wait=what, test=current_test(), process=current_process())


@contextmanager
def on_timeline(**what: Any) -> Iterator[None]:
    """The block's span, with `what` it was, as a line of TEST_TIMELINE's file when it is set
    (`python -m tests.run_timeline FILE` reads it): each test (tests/conftest.py), each wait of
    a test for the room or a compose slot, each compose slot held, each compose command
    (tests/compose_cluster.py)."""
    start = time.time()
    try:
        yield
    finally:
        if path := os.environ.get("TEST_TIMELINE"):
            with open(path, "a") as timeline:  # one short append per line: the processes do not mix them
                timeline.write(json.dumps({**what, "start": start, "end": time.time()}) + "\n")
